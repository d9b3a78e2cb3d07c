"""Procedures and medications: nephrectomy, local treatment, lines, proposed therapy."""

from __future__ import annotations

from datetime import date

import pytest

from rccnav import default_knowledge_base
from rccnav.core.case import Site, StopReason, TherapySetting
from rccnav.core.decisions.lines import current_line

from .builders import (
    ICD10CM,
    ON,
    SNOMED,
    SUBJECT,
    administration,
    base,
    concept,
    condition,
    procedure,
    read,
    request,
    warnings_about,
)

CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (CPT, "50230"),
        (CPT, "50545"),
        (CPT, "50240"),
        (SNOMED, "108022006"),
        (SNOMED, "116033007"),
        (PCS, "0TT00ZZ"),
    ],
)
def test_nephrectomy_codes(system: str, code: str) -> None:
    nephrectomy = procedure(system, code)
    primary_tumour = read(base(nephrectomy)).case.primary_tumour
    assert primary_tumour.in_place is False
    assert primary_tumour.nephrectomy_date == date(2024, 2, 1)
    assert primary_tumour.source == f"Procedure/{nephrectomy['id']}"


def test_nephrectomy_by_text_only() -> None:
    text_only = procedure("urn:oid:1.2.3", "X1")
    text_only["code"]["text"] = "Robotic partial nephrectomy, left"
    assert read(base(text_only)).case.primary_tumour.in_place is False


@pytest.mark.parametrize(
    ("system", "code", "text"),
    [
        (SNOMED, "70536003", "Transplant of kidney"),
        (CPT, "50547", "Laparoscopic donor nephrectomy"),
    ],
)
def test_kidney_transplant_and_donor_nephrectomy_are_not_nephrectomy_of_the_primary(
    system: str, code: str, text: str
) -> None:
    other = procedure(system, code)
    other["code"]["text"] = text
    assert read(base(other)).case.primary_tumour.in_place is None


def test_planned_or_future_nephrectomy_is_not_counted() -> None:
    planned = procedure(CPT, "50545", status="preparation")
    later = procedure(CPT, "50545", when="2026-12-01")
    intake = read(base(planned, later))
    assert intake.case.primary_tumour.in_place is None
    assert len([i for i in intake.ignored if "Procedure/" in i]) == 2


def test_radiotherapy_to_a_brain_metastasis_marks_it_treated() -> None:
    brain = condition(ICD10CM, "C79.31")
    srs = procedure(
        CPT, "77372", when="2026-10-01", reasonReference=[{"reference": f"Condition/{brain['id']}"}]
    )
    lung = condition(ICD10CM, "C78.01")
    case = read(base(brain, lung, srs)).case
    treated = {m.site: m.treated for m in case.disease.metastases}
    assert treated == {Site.BRAIN: True, Site.LUNG: None}


def test_metastasectomy_by_body_site() -> None:
    lung = condition(ICD10CM, "C78.01")
    resection = procedure(
        "urn:oid:1.2.3", "L1", when="2026-10-01", bodySite=[concept(SNOMED, "39607008")]
    )
    resection["code"]["text"] = "Pulmonary metastasectomy (wedge)"
    intake = read(base(lung, resection))
    assert intake.case.disease.metastases[0].treated is True
    assert intake.summary.used["Procedure"] == 1


def test_ipilimumab_nivolumab_is_one_line() -> None:
    nivo = administration("nivolumab", "2025-03-01", "2026-08-15")
    ipi = administration("ipilimumab", "2025-03-01", "2025-05-10")
    lines = read(base(nivo, ipi)).case.prior_therapies
    assert [t.agents for t in lines] == [("ipilimumab", "nivolumab")]
    assert lines[0].start == date(2025, 3, 1) and lines[0].end == date(2026, 8, 15)
    assert lines[0].source is not None
    assert set(lines[0].source.split(", ")) == {
        f"MedicationAdministration/{nivo['id']}",
        f"MedicationAdministration/{ipi['id']}",
    }


def test_repeated_administrations_are_one_course_and_a_switch_is_a_new_line() -> None:
    doses = [administration("Opdivo 240 mg IV", f"2025-0{m}-01") for m in range(1, 7)]
    cabo = administration("cabozantinib 60 MG Oral Tablet", "2025-09-01", "2026-02-01")
    lines = read(base(*doses, cabo)).case.prior_therapies
    assert [t.agents for t in lines] == [("nivolumab",), ("cabozantinib",)]
    assert lines[0].end == date(2025, 6, 1)


def test_a_long_course_names_its_first_administrations_and_counts_the_rest() -> None:
    """Three years of fortnightly doses, given out of order: one course, named by its
    first six administrations in date order and how many more there are."""
    first = date(2023, 1, 2).toordinal()
    days = [date.fromordinal(first + 14 * n) for n in range(80)]
    doses = [administration("nivolumab", day.isoformat()) for day in days]
    (line,) = read(base(*reversed(doses))).case.prior_therapies
    names = ", ".join(f"MedicationAdministration/{dose['id']}" for dose in doses[:6])
    assert line.source == f"{names} (+74 more)"


def test_ongoing_therapy_is_a_running_line() -> None:
    running = administration("axitinib", "2026-06-01", status="in-progress")
    (line,) = read(base(running)).case.prior_therapies
    assert line.agents == ("axitinib",) and line.end is None


def test_therapy_after_the_assessment_date_is_ignored() -> None:
    intake = read(base(administration("sunitinib", "2026-12-01")))
    assert intake.case.prior_therapies == ()
    assert any("after the assessment date" in item for item in intake.ignored)


def test_entered_in_error_medication_is_ignored() -> None:
    intake = read(base(administration("sunitinib", "2025-01-01", status="entered-in-error")))
    assert (
        intake.case.prior_therapies == () and intake.summary.unused["MedicationAdministration"] == 1
    )


def test_draft_orders_are_the_proposed_therapy() -> None:
    ipi = request("ipilimumab")
    cabo = request("Cabometyx", status="active", intent="plan")
    proposed = read(base(ipi, cabo)).case.proposed_therapy
    assert proposed is not None and proposed.agents == ("ipilimumab", "cabozantinib")
    assert proposed.planned_start is None  # authoredOn is not a treatment date


def test_planned_start_from_dosage_bounds() -> None:
    order = request("pembrolizumab")
    order["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": "2026-11-10"}}}}]
    proposed = read(base(order)).case.proposed_therapy
    assert proposed is not None and proposed.planned_start == date(2026, 11, 10)


@pytest.mark.parametrize(
    "medication",
    [
        concept("http://www.nlm.nih.gov/research/umls/rxnorm", "1597876"),
        concept("http://www.whocc.no/atc", "L01FF01"),
        concept("http://www.whocc.no/atc", "L01XC17"),
        concept(
            "http://www.nlm.nih.gov/research/umls/rxnorm",
            "1597880",
            "nivolumab 10 MG/ML Injectable Solution",
        ),
        {"text": "OPDIVO"},
    ],
)
def test_medication_codes_and_names(medication: dict[str, object]) -> None:
    given = administration("x", "2025-01-01")
    given["medicationCodeableConcept"] = medication
    assert [t.agents for t in read(base(given)).case.prior_therapies] == [("nivolumab",)]


def test_unknown_cancer_medication_is_reported() -> None:
    order = request("Drug XYZ-123")
    order["meta"] = {
        "profile": [
            "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-related-medication-request"
        ]
    }
    intake = read(base(order))
    assert intake.case.proposed_therapy is None and warnings_about(
        intake, "not in the knowledge base"
    )


def test_non_cancer_medication_is_counted_not_used() -> None:
    intake = read(base(administration("amlodipine 5 MG", "2025-01-01")))
    assert intake.summary.unused["MedicationAdministration"] == 1 and not intake.warnings


def test_bone_targeted_agent_is_not_a_line() -> None:
    intake = read(base(administration("denosumab", "2025-01-01")))
    assert intake.case.prior_therapies == ()
    assert any("bone-targeted" in item for item in intake.ignored)


def test_stop_reason_from_status_reason() -> None:
    sunitinib = administration("sunitinib", "2025-01-01", "2025-08-01", status="stopped")
    sunitinib["statusReason"] = [{"text": "Disease progression on CT"}]
    (line,) = read(base(sunitinib)).case.prior_therapies
    assert line.stop_reason is StopReason.PROGRESSION


def test_adjuvant_pembrolizumab_inferred_from_dates() -> None:
    nephrectomy = procedure(CPT, "50545", when="2024-02-01")
    pembro = administration("pembrolizumab", "2024-04-01", "2025-03-01")
    met = condition(ICD10CM, "C78.01", onset="2026-01-01")
    intake = read(base(nephrectomy, pembro, met))
    (line,) = intake.case.prior_therapies
    assert line.setting is TherapySetting.ADJUVANT
    assert warnings_about(intake, "taken as adjuvant")


def test_medication_statement_and_dispense() -> None:
    statement = {
        "resourceType": "MedicationStatement",
        "id": "st-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "Inlyta 5 mg"},
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-07-01"},
        "subject": SUBJECT,
    }
    dispense = {
        "resourceType": "MedicationDispense",
        "id": "d-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "pembrolizumab"},
        "whenHandedOver": "2025-01-03",
        "subject": SUBJECT,
    }
    lines = read(base(statement, dispense)).case.prior_therapies
    assert [t.agents for t in lines] == [("axitinib", "pembrolizumab")]


def test_progression_on_any_agent_ends_the_regimen_for_progression() -> None:
    # Ipilimumab "completed" (4 induction doses) sorts first alphabetically; nivolumab
    # stopped for progression. The line is stopped for progression (therapy.line-progression).
    ipi = administration("ipilimumab", "2025-03-01", "2025-05-10", status="stopped")
    ipi["statusReason"] = [{"text": "Course completed (4 doses)"}]
    nivo = administration("nivolumab", "2025-03-01", "2026-02-15", status="stopped")
    nivo["statusReason"] = [{"text": "Progressive disease"}]
    (line,) = read(base(ipi, nivo)).case.prior_therapies
    assert line.agents == ("ipilimumab", "nivolumab")
    assert line.stop_reason is StopReason.PROGRESSION


def test_toxicity_outranks_completion_of_another_agent() -> None:
    ipi = administration("ipilimumab", "2025-03-01", "2025-05-10", status="stopped")
    ipi["statusReason"] = [{"text": "completed"}]
    nivo = administration("nivolumab", "2025-03-01", "2025-09-15", status="stopped")
    nivo["statusReason"] = [{"text": "immune-related colitis"}]
    (line,) = read(base(ipi, nivo)).case.prior_therapies
    assert line.stop_reason is StopReason.TOXICITY


def test_a_long_hold_and_separate_maintenance_order_count_as_one_line() -> None:
    kb = default_knowledge_base()
    # Sunitinib held 120 days for toxicity (longer than one course's order gap), resumed.
    held = administration("sunitinib", "2024-01-01", "2024-05-01", status="stopped")
    held["statusReason"] = [{"text": "adverse event: hand-foot syndrome"}]
    resumed = administration("sunitinib 37.5 mg", "2024-08-29", "2025-04-01", status="stopped")
    resumed["statusReason"] = [{"text": "progression"}]
    intake = read(base(held, resumed))
    assert len(intake.case.prior_therapies) == 2  # two regimens in the record...
    line = current_line(intake.case, kb, ON)
    assert line.number == 2  # ...one line of therapy
    assert line.prior[0].stop_reason is StopReason.PROGRESSION
