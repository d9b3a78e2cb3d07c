"""Safety facts read from FHIR: one test per fact and per code-system variant.

Expected values come from the code systems (ICD-10-CM tabular list, SNOMED CT, LOINC,
WHO ATC, RxNorm, the CTCAE FHIR grade extension) and from the prednisone equivalence in
terminology.yaml (FDA prednisolone label: dexamethasone 0.75 mg = prednisone 5 mg).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rccnav import default_knowledge_base
from rccnav.adapters.intake import Intake
from rccnav.core.case import (
    AutoimmuneDisease,
    InfectionStatus,
    IrAEOrgan,
    RenalMethod,
    SickleStatus,
    TransplantOrgan,
)
from rccnav.core.decisions.safety_facts import (
    ctla4_rechallenge_barred,
    ici_prior_grade3_irae,
    ici_rechallenge_barred,
    ici_rechallenge_questioned,
)

from .builders import (
    ATC,
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    administration,
    adverse_event,
    allergy,
    base,
    concept,
    condition,
    dose,
    lab,
    procedure,
    read,
    statement,
    warnings_about,
)

CPT = "http://www.ama-assn.org/go/cpt"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
EXTERNAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "external"


def _comorbidities(*resources: dict[str, object]):  # type: ignore[no-untyped-def]
    return read(base(*resources)).case.comorbidities


def _after_pembrolizumab(code: dict[str, object], grade: str | None) -> Intake:
    """A record with adjuvant pembrolizumab and an AdverseEvent naming it as the suspect."""
    given = administration("pembrolizumab", "2024-09-10", "2024-11-20", id="pem")
    event = adverse_event(code, grade=grade, suspect="MedicationAdministration/pem", id="ae1")
    return read(base(given, event))


# ------------------------------------------------------------------ unknown


def test_nothing_recorded_stays_unknown() -> None:
    case = read(base()).case
    found = case.comorbidities
    assert found.immune_related_adverse_events is None
    assert found.prior_severe_immune_related_adverse_event is None
    assert found.corticosteroid_prednisone_mg_per_day is None
    assert found.systemic_steroids_over_10mg is None
    assert found.other_immunosuppressants is None
    assert found.transplanted_organs is None
    assert found.autoimmune_diseases is None
    assert found.infections.hepatitis_b is None and found.infections.hiv is None
    assert found.sickle_cell is None
    assert case.disease.hypercalcaemia is None and case.disease.pathological_fracture is None
    assert case.vitals.oxygen_saturation is None and case.vitals.weight is None


# ------------------------------------------------------- immune-related AEs


def test_adverse_event_with_ctcae_grade_and_checkpoint_suspect() -> None:
    given = administration("pembrolizumab", "2025-03-01", "2025-05-20", id="pem")
    event = adverse_event(
        concept(SNOMED, "50920009", "Myocarditis"),
        grade="4",
        suspect="MedicationAdministration/pem",
        id="ae1",
    )
    found = _comorbidities(given, event)
    assert found.immune_related_adverse_events is not None
    (irae,) = found.immune_related_adverse_events
    assert (irae.organ, irae.grade, irae.agents) == (IrAEOrgan.MYOCARDITIS, 4, ("pembrolizumab",))
    assert irae.source == "AdverseEvent/ae1"
    # The reader reports the event; the knowledge base's thresholds decide, in the core.
    assert found.prior_severe_immune_related_adverse_event is None
    assert found.sources["immune_related_adverse_events"] == "AdverseEvent/ae1"


@pytest.mark.parametrize(
    ("code", "grade", "excluded"),
    [
        (concept(SNOMED, "64226004", "Colitis"), "3", True),
        (concept(ICD10CM, "K52.1", "Toxic gastroenteritis and colitis"), "4", True),
        (concept(SNOMED, "64226004", "Colitis"), "2", False),
    ],
)
def test_immune_colitis_grade_from_fhir_decides_whether_ipilimumab_may_be_given_again(
    code: dict[str, object], grade: str, excluded: bool
) -> None:
    # OPDIVO label / ASCO 2021: no CTLA-4 inhibitor after grade 3-4 colitis; PD-1 may resume.
    intake = _after_pembrolizumab(code, grade)
    (irae,) = intake.case.comorbidities.immune_related_adverse_events or ()
    assert (irae.organ, irae.grade) == (IrAEOrgan.COLITIS, int(grade))
    kb = default_knowledge_base()
    assert ctla4_rechallenge_barred(intake.case, kb) is excluded
    # Grade 3 colitis bars only the CTLA-4 inhibitor; grade 4 bars every checkpoint inhibitor.
    assert ici_rechallenge_barred(intake.case, kb) is (grade == "4")


@pytest.mark.parametrize(
    ("code", "organ", "grade", "questioned"),
    [
        (
            concept(ICD10CM, "K71.6", "Toxic liver disease with hepatitis"),
            IrAEOrgan.HEPATITIS,
            "3",
            True,
        ),
        (concept(SNOMED, "128241005", "Hepatitis"), IrAEOrgan.HEPATITIS, "2", False),
        (
            concept(ICD10CM, "N14.1", "Nephropathy induced by other drugs"),
            IrAEOrgan.NEPHRITIS,
            "3",
            True,
        ),
    ],
)
def test_grade_3_immune_hepatitis_or_nephritis_from_fhir_questions_rechallenge(
    code: dict[str, object], organ: IrAEOrgan, grade: str, questioned: bool
) -> None:
    # ASCO 2021 / OPDIVO and KEYTRUDA labels: grade 3 hepatitis or nephritis is below the bar
    # on every checkpoint inhibitor, but rechallenge needs a specialist discussion first.
    intake = _after_pembrolizumab(code, grade)
    (irae,) = intake.case.comorbidities.immune_related_adverse_events or ()
    assert (irae.organ, irae.grade) == (organ, int(grade))
    kb = default_knowledge_base()
    assert ici_rechallenge_questioned(intake.case, kb) is questioned
    assert ici_rechallenge_barred(intake.case, kb) is False
    assert ici_prior_grade3_irae(intake.case, kb) is False


@pytest.mark.parametrize(
    ("code", "grade", "barred"),
    [
        (concept(SNOMED, "50920009", "Myocarditis"), "2", True),
        (concept(ICD10CM, "K71.6", "Toxic liver disease with hepatitis"), "3", False),
        (concept(ICD10CM, "K71.6", "Toxic liver disease with hepatitis"), "4", True),
        (concept(ICD10CM, "E23.1", "Drug-induced hypopituitarism"), "4", False),
        (concept(SNOMED, "205237003", "Pneumonitis"), "3", True),
    ],
)
def test_fhir_and_case_file_events_are_judged_by_the_same_knowledge_base_rule(
    code: dict[str, object], grade: str, barred: bool
) -> None:
    """The reader reports organ and grade only. It once held its own severity table, which
    barred rechallenge after grade 3 hepatitis and grade 4 endocrinopathy where the knowledge
    base (ASCO 2021) does not: the same patient got different answers from FHIR and a case file."""
    case = _after_pembrolizumab(code, grade).case
    (irae,) = case.comorbidities.immune_related_adverse_events or ()
    assert case.comorbidities.prior_severe_immune_related_adverse_event is None
    kb = default_knowledge_base()
    assert ici_rechallenge_barred(case, kb) is barred
    as_entered = case.model_copy(
        update={
            "comorbidities": case.comorbidities.model_copy(
                update={
                    "immune_related_adverse_events": (irae.model_copy(update={"source": None}),)
                }
            )
        }
    )
    assert ici_rechallenge_barred(as_entered, kb) is barred


@pytest.mark.parametrize(
    "code",
    [
        concept(ICD10CM, "L51.1", "Stevens-Johnson syndrome"),
        concept(ICD10CM, "L51.2", "Toxic epidermal necrolysis"),
        concept(ICD10CM, "D72.12", "Drug rash with eosinophilia and systemic symptoms syndrome"),
        {"text": "Stevens-Johnson syndrome"},
        {"text": "DRESS"},
    ],
)
def test_confirmed_sjs_ten_or_dress_from_fhir_bars_rechallenge_without_a_grade(
    code: dict[str, object],
) -> None:
    # KEYTRUDA and OPDIVO labels: confirmed SJS, TEN or DRESS -> permanently discontinue,
    # whatever the grade; a rash of the same grade is withheld and resumed.
    case = _after_pembrolizumab(code, None).case
    (irae,) = case.comorbidities.immune_related_adverse_events or ()
    assert (irae.organ, irae.grade) == (IrAEOrgan.SEVERE_SKIN_REACTION, None)
    assert ici_rechallenge_barred(case, default_knowledge_base()) is True


def test_a_rash_of_unrecorded_grade_is_unknown_not_a_bar() -> None:
    case = _after_pembrolizumab({"text": "maculopapular rash"}, None).case
    (irae,) = case.comorbidities.immune_related_adverse_events or ()
    assert irae.organ is IrAEOrgan.SKIN
    assert ici_rechallenge_barred(case, default_knowledge_base()) is None


def test_adverse_event_not_linked_to_a_checkpoint_inhibitor_is_not_an_irae() -> None:
    event = adverse_event(concept(SNOMED, "64226004", "Colitis"), grade="3")
    assert _comorbidities(event).immune_related_adverse_events is None


def test_potential_adverse_event_is_not_counted() -> None:
    event = adverse_event(
        concept(SNOMED, "50920009"), grade="4", actuality="potential", suspect="x"
    )
    assert _comorbidities(event).immune_related_adverse_events is None


def test_allergy_intolerance_to_a_checkpoint_inhibitor_rxnorm() -> None:
    record = allergy(
        concept(RXNORM, "1597876", "nivolumab"),
        {"text": "immune-mediated colitis, grade 3"},
        id="al1",
    )
    record["reaction"][0]["severity"] = "severe"
    found = _comorbidities(record)
    assert found.immune_related_adverse_events is not None
    (irae,) = found.immune_related_adverse_events
    assert (irae.organ, irae.agents) == (IrAEOrgan.COLITIS, ("nivolumab",))
    assert found.prior_severe_immune_related_adverse_event is None


def test_infusion_reaction_is_not_an_irae_but_is_warned() -> None:
    record = allergy(concept(ATC, "L01FF02", "pembrolizumab"), {"text": "Anaphylaxis"})
    intake = read(base(record))
    assert intake.case.comorbidities.immune_related_adverse_events is None
    assert warnings_about(intake, "not an immune-related adverse event")


def test_condition_coded_as_drug_adverse_effect_icd10cm() -> None:
    myocarditis = condition(ICD10CM, "I40.9", onset="2025-04-10", id="myo")
    myocarditis["code"]["coding"].append({"system": ICD10CM, "code": "T45.1X5A"})
    myocarditis["severity"] = concept(SNOMED, "442452003", "Life threatening severity")
    found = _comorbidities(myocarditis)
    assert found.immune_related_adverse_events is not None
    (irae,) = found.immune_related_adverse_events
    assert (irae.organ, irae.grade, irae.source) == (IrAEOrgan.MYOCARDITIS, 4, "Condition/myo")


def test_condition_during_checkpoint_therapy_is_read_as_irae_and_said_so() -> None:
    given = administration("ipilimumab", "2025-01-10", "2025-03-01")
    colitis = condition(SNOMED, "64226004", onset="2025-02-20")
    intake = read(base(given, colitis))
    events = intake.case.comorbidities.immune_related_adverse_events
    assert events is not None and events[0].agents == ("ipilimumab",)
    assert warnings_about(intake, "during or after checkpoint-inhibitor therapy")


def test_myocarditis_without_checkpoint_link_is_not_an_irae() -> None:
    assert _comorbidities(condition(ICD10CM, "I40.0")).immune_related_adverse_events is None


def test_checkpoint_inhibitor_stopped_for_toxicity_with_grade() -> None:
    stopped = statement(
        {"text": "nivolumab"},
        status="stopped",
        start="2025-01-01",
        end="2025-04-01",
        statusReason=[{"text": "grade 4 hepatitis"}],
        id="niv",
    )
    found = _comorbidities(stopped)
    assert found.immune_related_adverse_events is not None
    (irae,) = found.immune_related_adverse_events
    assert (irae.organ, irae.grade, irae.agents) == (IrAEOrgan.HEPATITIS, 4, ("nivolumab",))


def test_one_event_recorded_twice_is_one_irae_with_the_worst_grade() -> None:
    given = administration("pembrolizumab", "2025-03-01", "2025-05-20", id="pem2")
    event = adverse_event(
        concept(SNOMED, "205237003"), grade="2", suspect="MedicationAdministration/pem2"
    )
    record = allergy(concept(RXNORM, "1547545"), {"text": "pneumonitis grade 3"})
    record["recordedDate"] = "2025-06-10"
    found = _comorbidities(given, event, record)
    assert found.immune_related_adverse_events is not None
    assert len(found.immune_related_adverse_events) == 1
    assert found.immune_related_adverse_events[0].grade == 3  # grade 3 pneumonitis: barred


# ---------------------------------------------------------------- steroids


@pytest.mark.parametrize(
    ("medication", "dosage", "expected"),
    [
        # dexamethasone 4 mg twice a day = 8 mg x 6.667 = 53.3 mg prednisone (ATC H02AB02)
        (concept(ATC, "H02AB02", "dexamethasone"), [dose(4, code="BID")], 53.34),
        # methylprednisolone 16 mg daily x 1.25 = 20 mg (RxNorm 6902)
        (concept(RXNORM, "6902", "methylprednisolone"), [dose(16)], 20.0),
        # prednisone 5 MG tablets, 2 a day: strength from the clinical-drug name
        ({"text": "prednisone 5 MG Oral Tablet"}, [dose(1, unit="{tbl}", per_day=2)], 10.0),
    ],
)
def test_current_corticosteroid_as_prednisone_equivalent(
    medication: dict[str, object], dosage: list[dict[str, object]], expected: float
) -> None:
    found = _comorbidities(statement(medication, dosage=dosage, id="st"))
    assert found.corticosteroid_prednisone_mg_per_day == pytest.approx(expected, abs=0.05)
    assert found.systemic_steroids_over_10mg is (expected > 10)
    assert found.sources["corticosteroid_prednisone_mg_per_day"] == "MedicationStatement/st"


def test_hydrocortisone_replacement_dose() -> None:
    found = _comorbidities(statement(concept(RXNORM, "5492"), dosage=[dose(10, per_day=3)]))
    assert found.corticosteroid_prednisone_mg_per_day == pytest.approx(7.5)
    assert found.corticosteroid_replacement_only is True
    assert found.systemic_steroids_over_10mg is False


def test_steroid_with_unreadable_dose_is_unknown_and_warned() -> None:
    intake = read(base(statement({"text": "prednisolone"}, dosage=[{"text": "as directed"}])))
    assert intake.case.comorbidities.corticosteroid_prednisone_mg_per_day is None
    assert intake.case.comorbidities.systemic_steroids_over_10mg is None
    assert warnings_about(intake, "daily dose cannot be read")


def test_topical_and_past_steroids_do_not_count() -> None:
    drops = statement({"text": "dexamethasone 0.1% eye drops"}, dosage=[dose(1)])
    past = statement(
        {"text": "prednisone"}, status="completed", end="2026-01-01", dosage=[dose(40)]
    )
    found = _comorbidities(drops, past)
    assert found.corticosteroid_prednisone_mg_per_day is None


@pytest.mark.parametrize(
    "medication",
    [concept(RXNORM, "42316", "tacrolimus"), concept(ATC, "L04AD02"), {"text": "Prograf 1 mg"}],
)
def test_current_immunosuppressant(medication: dict[str, object]) -> None:
    found = _comorbidities(statement(medication, id="tac"))
    assert found.other_immunosuppressants == ("tacrolimus",)


# -------------------------------------------------------------- infections


@pytest.mark.parametrize(
    ("resource", "field", "status"),
    [
        (condition(ICD10CM, "B18.1"), "hepatitis_b", InfectionStatus.ACTIVE),
        (condition(SNOMED, "61977001"), "hepatitis_b", InfectionStatus.ACTIVE),
        (condition(ICD10CM, "B18.2"), "hepatitis_c", InfectionStatus.ACTIVE),
        (condition(ICD10, "B20"), "hiv", InfectionStatus.ACTIVE),
        (condition(ICD10CM, "A15.0"), "tuberculosis", InfectionStatus.ACTIVE),
        (condition(ICD10CM, "Z22.7"), "tuberculosis", InfectionStatus.PAST),
        (
            condition(
                SNOMED,
                "56717001",
                clinicalStatus=concept(
                    "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"
                ),
            ),
            "tuberculosis",
            InfectionStatus.PAST,
        ),
    ],
)
def test_infection_from_condition(resource: dict[str, object], field: str, status: str) -> None:
    infections = _comorbidities(resource).infections
    assert getattr(infections, field) == status
    assert infections.sources[field] == f"Condition/{resource['id']}"


def _answer(loinc: str, answer: str, **extra: object) -> dict[str, object]:
    observation = lab(loinc, None, **extra)  # type: ignore[arg-type]
    observation["valueCodeableConcept"] = concept(LOINC, answer)
    return observation


def test_hbsag_negative_is_none_and_positive_is_active() -> None:
    assert _comorbidities(_answer("5196-1", "LA6577-6")).infections.hepatitis_b == "none"
    assert _comorbidities(_answer("5196-1", "LA6576-8")).infections.hepatitis_b == "active"


def test_resolved_hepatitis_b_is_past() -> None:
    found = _comorbidities(_answer("5196-1", "LA6577-6"), _answer("16933-4", "LA6576-8"))
    assert found.infections.hepatitis_b == InfectionStatus.PAST


def test_hcv_rna_decides_over_antibody() -> None:
    antibody = _answer("16128-1", "LA6576-8")
    cleared = _answer("11259-9", "LA11883-8")
    assert _comorbidities(antibody, cleared).infections.hepatitis_c == InfectionStatus.PAST
    intake = read(base(antibody))
    assert intake.case.comorbidities.infections.hepatitis_c is None
    assert warnings_about(intake, "HCV RNA result")


def test_hiv_viral_load_decides_control() -> None:
    hiv = condition(ICD10CM, "Z21")
    suppressed = lab("20447-9", 20, "{copies}/mL", comparator="<")
    suppressed["valueQuantity"]["comparator"] = "<"
    detectable = lab("20447-9", 5400, "{copies}/mL")
    assert _comorbidities(hiv, suppressed).infections.hiv == InfectionStatus.CONTROLLED
    assert _comorbidities(hiv, detectable).infections.hiv == InfectionStatus.ACTIVE


def test_synthea_tuberculosis_with_a_malformed_snomed_code_is_read_from_its_text() -> None:
    # /work/shared/fixtures/external/synthea/fhir-data-pipes-synthea-hiv: the Condition
    # codes TB as SNOMED "112141AAAA..." (a CIEL id, not SNOMED) with text "Tuberculosis".
    path = (
        EXTERNAL
        / "synthea"
        / "fhir-data-pipes-synthea-hiv"
        / "Lawrence741_Hammes673_6d44fe03-2478-a82d-7495-3a7c433ed921.json"
    )
    if not path.is_file():
        pytest.skip("external fixtures not present")
    document = orjson.loads(path.read_bytes())
    tb = next(
        e["resource"]
        for e in document["entry"]
        if e["resource"]["resourceType"] == "Condition"
        and e["resource"]["code"].get("text") == "Tuberculosis"
    )
    tb = {**tb, "subject": {"reference": "Patient/pat-1"}}
    tb.pop("encounter", None)
    found = _comorbidities(tb)
    assert found.infections.tuberculosis == InfectionStatus.ACTIVE


# -------------------------------------------------------------- transplant


@pytest.mark.parametrize(
    ("resource", "organs"),
    [
        (condition(ICD10CM, "Z94.1"), (TransplantOrgan.HEART,)),
        (condition(ICD10CM, "Z94.3"), (TransplantOrgan.HEART, TransplantOrgan.LUNG)),
        (condition(ICD10CM, "T86.41"), (TransplantOrgan.LIVER,)),
        (procedure(CPT, "50360"), (TransplantOrgan.KIDNEY,)),
        (procedure(SNOMED, "18027006"), (TransplantOrgan.LIVER,)),
        (
            procedure("http://www.cms.gov/Medicare/Coding/ICD10", "02YA0Z0"),
            (TransplantOrgan.HEART,),
        ),
    ],
)
def test_transplant_by_organ(resource: dict[str, object], organs: tuple[str, ...]) -> None:
    found = _comorbidities(resource)
    assert found.transplanted_organs is not None
    assert set(found.transplanted_organs) == set(organs)
    assert found.organ_transplant is True


def test_living_donor_nephrectomy_is_not_a_transplant() -> None:
    donor = procedure(SNOMED, "0")
    donor["code"] = {"text": "Donor nephrectomy for kidney transplant"}
    assert _comorbidities(donor).transplanted_organs is None


# --------------------------------------------------------------- autoimmune


@pytest.mark.parametrize(
    "resource",
    [condition(ICD10CM, "G70.00"), condition(SNOMED, "91637004"), condition(ICD10, "G70.0")],
)
def test_myasthenia_gravis_is_an_active_autoimmune_disease(resource: dict[str, object]) -> None:
    found = _comorbidities(resource)
    assert found.active_autoimmune_disease is True
    assert found.autoimmune_diseases is not None
    assert found.autoimmune_diseases[0].disease == AutoimmuneDisease.MYASTHENIA_GRAVIS
    assert found.autoimmune_diseases[0].active is True


def test_quiescent_autoimmune_disease_is_listed_as_inactive() -> None:
    quiet = condition(
        SNOMED,
        "24700007",
        clinicalStatus=concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "remission"
        ),
    )
    found = _comorbidities(quiet)
    assert found.active_autoimmune_disease is None
    assert found.autoimmune_diseases is not None
    assert found.autoimmune_diseases[0].active is False


def test_type_1_diabetes_is_listed_but_not_flagged() -> None:
    found = _comorbidities(condition(ICD10CM, "E10.9"))
    assert found.active_autoimmune_disease is None
    assert found.autoimmune_diseases is not None
    assert (found.autoimmune_diseases[0].disease, found.autoimmune_diseases[0].active) == (
        AutoimmuneDisease.TYPE_1_DIABETES,
        False,
    )


# ------------------------------------------------------- disease and vitals


def _text_condition(text: str, rid: str) -> dict[str, object]:
    resource = condition("http://local.example/problems", "77", id=rid)
    resource["code"] = {"text": text}
    return resource


@pytest.mark.parametrize(
    ("resource", "flag"),
    [
        (condition(ICD10CM, "E83.52", id="ca"), "hypercalcaemia"),
        (condition(SNOMED, "66931009", id="ca2"), "hypercalcaemia"),
        (condition(ICD10CM, "M84.58XA", id="fx"), "pathological_fracture"),
        (condition(SNOMED, "268029009", id="fx2"), "pathological_fracture"),
        (
            _text_condition("Impending fracture left femur", "imp"),
            "impending_fracture",
        ),
    ],
)
def test_disease_flags(resource: dict[str, object], flag: str) -> None:
    disease = read(base(resource)).case.disease
    assert getattr(disease, flag) is True
    assert disease.sources[flag] == f"Condition/{resource['id']}"


def test_old_hypercalcaemia_is_not_current() -> None:
    assert (
        read(base(condition(ICD10CM, "E83.52", onset="2025-01-01"))).case.disease.hypercalcaemia
        is None
    )


def test_oxygen_saturation_weight_and_home_oxygen() -> None:
    spo2 = lab("59408-5", 89, "%", id="spo2")
    weight = lab("29463-7", 72.5, "kg", id="wt")
    oxygen = condition(ICD10CM, "Z99.81")
    vitals = read(base(spo2, weight, oxygen)).case.vitals
    assert vitals.oxygen_saturation is not None and vitals.oxygen_saturation.value == 89
    assert vitals.oxygen_saturation.source == "Observation/spo2"
    assert vitals.weight is not None and vitals.weight.value == 72.5
    assert vitals.supplemental_oxygen is True


def test_arterial_oxygen_saturation_loinc_2708_6() -> None:
    vitals = read(base(lab("2708-6", 94, "%"))).case.vitals
    assert vitals.oxygen_saturation is not None and vitals.oxygen_saturation.value == 94


def test_bilirubin_ast_alt() -> None:
    labs = read(
        base(
            lab("1975-2", 2.4, "mg/dL", high=1.2),
            lab("1920-8", 80, "U/L"),
            lab("1742-6", 95, "U/L"),
        )
    ).case.labs
    assert labs.bilirubin_total is not None and labs.bilirubin_total.value == 2.4
    assert labs.bilirubin_total.high == 1.2
    assert labs.ast is not None and labs.alt is not None


@pytest.mark.parametrize(
    ("loinc", "method"),
    [
        ("98979-8", RenalMethod.CKD_EPI_2021),
        ("62238-1", RenalMethod.CKD_EPI_2009),
        ("33914-3", RenalMethod.MDRD),
    ],
)
def test_reported_egfr_names_its_equation(loinc: str, method: RenalMethod) -> None:
    labs = read(base(lab(loinc, 55, "mL/min/{1.73_m2}"))).case.labs
    assert labs.egfr_method == method


def test_measured_creatinine_clearance() -> None:
    labs = read(base(lab("2164-2", 48, "mL/min"))).case.labs
    assert labs.creatinine_clearance is not None
    assert labs.creatinine_clearance_method == RenalMethod.MEASURED


@pytest.mark.parametrize(
    ("code", "status"), [("D57.3", SickleStatus.TRAIT), ("D57.1", SickleStatus.DISEASE)]
)
def test_sickle_haemoglobin(code: str, status: SickleStatus) -> None:
    assert _comorbidities(condition(ICD10CM, code)).sickle_cell == status


def test_real_ctcae_adverse_event_shape_is_read() -> None:
    # mcode-extraction-framework csv-ctc-adverse-event-bundle.json: a CTCAE grade-1
    # AdverseEvent whose suspect is a Procedure: graded, but not an irAE on its own.
    path = (
        EXTERNAL
        / "mcode"
        / "mcode-extraction-framework-fixtures"
        / "csv-ctc-adverse-event-bundle.json"
    )
    if not path.is_file():
        pytest.skip("external fixtures not present")
    event = orjson.loads(path.read_bytes())["entry"][0]["resource"]
    event = {**event, "subject": {"reference": "Patient/pat-1"}, "event": {"text": "colitis"}}
    event.pop("suspectEntity")
    assert _comorbidities(event).immune_related_adverse_events is None
    given = administration("nivolumab", "2021-09-01", "2021-11-01")
    event["date"] = "2021-10-15"
    found = _comorbidities(given, event)
    assert found.immune_related_adverse_events is not None
    (irae,) = found.immune_related_adverse_events
    assert (irae.organ, irae.grade) == (IrAEOrgan.COLITIS, 1)
