"""Conditions: primary RCC and its histology, metastases, comorbidities, symptoms."""

from __future__ import annotations

from datetime import date

import pytest

from rccnav.core.case import Histology, Site

from .builders import (
    HISTOLOGY_EXT,
    ICD10CM,
    ICDO3,
    SNOMED,
    concept,
    condition,
    patient,
    primary,
    procedure,
    read,
    warnings_about,
)


@pytest.mark.parametrize(
    ("morphology", "histology", "sarcomatoid"),
    [
        ("8310/3", Histology.CLEAR_CELL, None),
        ("8260/3", Histology.PAPILLARY, None),
        ("8317/3", Histology.CHROMOPHOBE, None),
        ("8319/3", Histology.COLLECTING_DUCT, None),
        ("8510/3", Histology.MEDULLARY, None),
        ("8312/3", None, None),  # RCC NOS: unknown, never clear cell
        ("8318/3", None, True),
        ("8311/3", Histology.OTHER, None),
    ],
)
def test_icd_o_3_morphology(
    morphology: str, histology: Histology | None, sarcomatoid: bool | None
) -> None:
    diagnosis = read([patient(), primary(morphology=morphology)]).case.diagnosis
    assert diagnosis.histology == histology
    assert diagnosis.sarcomatoid == sarcomatoid


def test_rcc_nos_says_histology_is_unknown() -> None:
    intake = read([patient(), primary(morphology="8312/3")])
    assert warnings_about(intake, "not as clear cell")


def test_shared_morphology_code_refined_by_text() -> None:
    condition_ = primary(morphology=None)
    condition_["extension"] = [
        {
            "url": HISTOLOGY_EXT,
            "valueCodeableConcept": concept(ICDO3, "8311/3", text="MiT family translocation RCC"),
        }
    ]
    assert read([patient(), condition_]).case.diagnosis.histology == Histology.TRANSLOCATION


def test_snomed_disorder_code_implies_clear_cell() -> None:
    condition_ = primary(code="254915003", system=SNOMED, morphology=None)
    assert read([patient(), condition_]).case.diagnosis.histology == Histology.CLEAR_CELL


def test_multiple_codings_local_first() -> None:
    condition_ = primary(morphology=None)
    condition_["code"] = {
        "coding": [
            {"system": "urn:oid:1.2.3.4.local", "code": "ONC-77"},
            {"system": "urn:oid:2.16.840.1.113883.6.90", "code": "C649"},
        ],
        "text": "Papillary renal cell carcinoma, left kidney",
    }
    diagnosis = read([patient(), condition_]).case.diagnosis
    assert diagnosis.histology == Histology.PAPILLARY  # code says kidney cancer, text the subtype


def test_text_only_rcc_is_accepted_with_a_note() -> None:
    condition_ = primary(morphology=None)
    condition_["code"] = {"text": "Metastatic-free clear cell renal cell carcinoma"}
    intake = read([patient(), condition_])
    assert intake.case.diagnosis.histology == Histology.CLEAR_CELL
    assert warnings_about(intake, "text only")


def test_diagnosis_date_is_the_earliest_sensible_date() -> None:
    condition_ = primary(onset="2024-05-01", recordedDate="2024-03-02")
    condition_["extension"].append(
        {
            "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
            "valueDateTime": "2024-02-20",
        }
    )
    case = read([patient(), condition_]).case
    assert case.diagnosis.date == date(2024, 2, 20)
    assert case.diagnosis.source == f"Condition/{condition_['id']}"


def test_dates_before_birth_or_after_on_are_not_sensible() -> None:
    condition_ = primary(onset="1900-01-01", recordedDate="2025-01-10")
    assert read([patient(), condition_]).case.diagnosis.date == date(2025, 1, 10)


def test_partial_diagnosis_date() -> None:
    intake = read([patient(), primary(onset="2024-03")])
    assert intake.case.diagnosis.date == date(2024, 3, 1)
    assert warnings_about(intake, "given only as '2024-03'")


def test_nephrectomy_date_when_no_diagnosis_date() -> None:
    case = read(
        [patient(), primary(onset=None), procedure("http://www.ama-assn.org/go/cpt", "50230")]
    ).case
    assert case.diagnosis.date == date(2024, 2, 1)


@pytest.mark.parametrize(
    ("code", "site"),
    [
        ("C78.01", Site.LUNG),
        ("C79.51", Site.BONE),
        ("C78.7", Site.LIVER),
        ("C79.31", Site.BRAIN),
        ("C77.2", Site.LYMPH_NODE),
        ("C79.72", Site.ADRENAL),
        ("C78.6", Site.PERITONEUM),
        ("C79.02", Site.CONTRALATERAL_KIDNEY),
        ("C79.89", Site.OTHER),
    ],
)
def test_icd_10_cm_metastasis_sites(code: str, site: Site) -> None:
    met = condition(ICD10CM, code)
    case = read([patient(), primary(), met]).case
    assert [m.site for m in case.disease.metastases] == [site]
    assert case.disease.metastases[0].source == f"Condition/{met['id']}"
    assert case.diagnosis.metastasis_date == date(2026, 9, 20)


def test_body_site_refines_an_unspecific_code() -> None:
    met = condition(
        ICD10CM, "C78.89", bodySite=[concept(SNOMED, "15776009", "Pancreatic structure")]
    )
    case = read([patient(), primary(), met]).case
    assert [m.site for m in case.disease.metastases] == [Site.PANCREAS]


def test_text_refines_an_unspecific_code() -> None:
    met = condition(ICD10CM, "C78.89")
    met["code"]["text"] = "Pancreatic metastasis of RCC"
    assert read([patient(), primary(), met]).case.disease.metastases[0].site == Site.PANCREAS


def test_snomed_secondary_and_mcode_profile() -> None:
    brain = condition(SNOMED, "94225005")
    profiled = condition(SNOMED, "128462008", bodySite=[concept(SNOMED, "10200004")])
    sites = {m.site for m in read([patient(), primary(), brain, profiled]).case.disease.metastases}
    assert sites == {Site.BRAIN, Site.LIVER}


def test_resolved_metastasis_dates_disease_but_is_not_a_current_site() -> None:
    met = condition(
        ICD10CM,
        "C78.01",
        onset="2025-01-01",
        clinicalStatus=concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"
        ),
    )
    case = read([patient(), primary(), met]).case
    assert case.disease.metastases == ()
    assert case.diagnosis.metastasis_date == date(2025, 1, 1)


def test_unconfirmed_brain_metastasis_is_flagged_not_counted() -> None:
    met = condition(
        ICD10CM,
        "C79.31",
        verificationStatus=concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "provisional"
        ),
    )
    intake = read([patient(), primary(), met])
    assert intake.case.disease.metastases == ()
    assert warnings_about(intake, "not counted until confirmed")


def test_refuted_condition_is_ignored() -> None:
    lupus = condition(ICD10CM, "M32.9", verificationStatus="refuted")  # DSTU2-style string
    intake = read([patient(), primary(), lupus])
    assert intake.case.comorbidities.active_autoimmune_disease is None
    assert any("refuted" in item for item in intake.ignored)


def test_spinal_cord_compression() -> None:
    case = read([patient(), primary(), condition(ICD10CM, "G95.20")]).case
    assert case.disease.spinal_cord_compression is True


@pytest.mark.parametrize(
    ("system", "code", "field"),
    [
        (ICD10CM, "M32.9", "active_autoimmune_disease"),
        (ICD10CM, "M06.9", "active_autoimmune_disease"),
        (ICD10CM, "K50.90", "active_autoimmune_disease"),
        (SNOMED, "24700007", "active_autoimmune_disease"),
        (ICD10CM, "Z94.0", "organ_transplant"),
        (ICD10CM, "Z94.84", "allogeneic_stem_cell_transplant"),
        (ICD10CM, "I50.22", "heart_failure"),
        (ICD10CM, "I16.1", "uncontrolled_hypertension"),
        (ICD10CM, "K92.2", "recent_bleeding"),
        (ICD10CM, "I63.9", "recent_arterial_thromboembolism"),
        (ICD10CM, "Z33.1", "pregnancy"),
    ],
)
def test_comorbidities(system: str, code: str, field: str) -> None:
    comorbid = condition(system, code, onset="2026-10-01")
    comorbidities = read([patient(), primary(), comorbid]).case.comorbidities
    assert getattr(comorbidities, field) is True
    assert comorbidities.sources[field] == f"Condition/{comorbid['id']}"


def test_essential_hypertension_is_not_uncontrolled() -> None:
    case = read([patient(), primary(), condition(ICD10CM, "I10")]).case
    assert case.comorbidities.uncontrolled_hypertension is None


def test_old_bleeding_is_not_recent() -> None:
    intake = read([patient(), primary(), condition(ICD10CM, "K92.2", onset="2019-01-01")])
    assert intake.case.comorbidities.recent_bleeding is None
    assert any("not recent enough" in item for item in intake.ignored)


def test_coded_condition_is_never_read_by_its_text() -> None:
    ear = condition(ICD10CM, "H72.90")
    ear["code"]["text"] = "Perforation of tympanic membrane"
    assert read([patient(), primary(), ear]).case.comorbidities.gi_perforation_risk is None


def test_haematuria_and_flank_pain_with_the_primary_in_place() -> None:
    case = read(
        [patient(), primary(), condition(ICD10CM, "R31.0"), condition(SNOMED, "247355005")]
    ).case
    assert case.primary_tumour.bleeding is True and case.primary_tumour.pain is True


def test_haematuria_after_nephrectomy_does_not_blame_the_primary() -> None:
    intake = read(
        [
            patient(),
            primary(),
            condition(ICD10CM, "R31.9"),
            procedure("http://www.ama-assn.org/go/cpt", "50545"),
        ]
    )
    assert intake.case.primary_tumour.bleeding is None
    assert any("primary tumour was removed" in item for item in intake.ignored)
