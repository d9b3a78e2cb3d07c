"""Resources recorded in error and findings not yet confirmed (issue 7 item 4, never guess).

FHIR: ``entered-in-error`` in ``status`` or ``verificationStatus`` means the resource
should not have existed, on every resource type (R4 AdverseEvent has no status; R4B/R5
and many servers send one). ``unconfirmed``/``provisional``/``differential`` is a
finding not yet established: not counted, but never dropped silently where it would
change which treatments are safe.
"""

from __future__ import annotations

import pytest

from .builders import (
    ICD10CM,
    SNOMED,
    administration,
    adverse_event,
    base,
    concept,
    condition,
    lab,
    patient,
    primary,
    read,
)

VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _myocarditis_on_pembrolizumab(**extra: object) -> list[dict[str, object]]:
    given = administration("pembrolizumab", "2025-03-01", "2025-05-20", id="pem")
    event = adverse_event(
        concept(SNOMED, "50920009", "Myocarditis"),
        grade="4",
        suspect="MedicationAdministration/pem",
        id="ae1",
        **extra,
    )
    return base(given, event)


def test_an_adverse_event_entered_in_error_is_not_used() -> None:
    intake = read(_myocarditis_on_pembrolizumab(status="entered-in-error"))
    assert intake.case.comorbidities.immune_related_adverse_events is None
    assert any("AdverseEvent/ae1" in item for item in intake.ignored)


def test_the_same_adverse_event_without_the_error_is_used() -> None:
    intake = read(_myocarditis_on_pembrolizumab())
    assert intake.case.comorbidities.immune_related_adverse_events is not None


def test_a_report_entered_in_error_does_not_date_its_results() -> None:
    hb = lab("718-7", 9.0, "g/dL", when=None, id="hb")
    report = {
        "resourceType": "DiagnosticReport",
        "id": "rep",
        "status": "entered-in-error",
        "code": {"text": "CBC"},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-10-20",
        "result": [{"reference": "Observation/hb"}],
    }
    intake = read(base(report, hb))
    assert intake.case.labs.hemoglobin is None


@pytest.mark.parametrize("status", ["provisional", "differential", "unconfirmed"])
def test_an_unconfirmed_safety_finding_is_named_not_dropped(status: str) -> None:
    myocarditis = condition(
        ICD10CM,
        "I40.9",
        onset="2025-04-10",
        id="myo",
        verificationStatus=concept(VERIFICATION, status),
    )
    myocarditis["code"]["coding"].append({"system": ICD10CM, "code": "T45.1X5A"})
    intake = read(base(myocarditis))
    assert intake.case.comorbidities.immune_related_adverse_events is None
    warned = [w for w in intake.warnings if w.source == "Condition/myo"]
    assert warned and status in warned[0].message and warned[0].severity == "warning"


@pytest.mark.parametrize("status", ["provisional", "differential", "unconfirmed"])
def test_an_unconfirmed_kidney_cancer_diagnosis_is_warned(status: str) -> None:
    tumour = primary(id="rcc", verificationStatus=concept(VERIFICATION, status))
    intake = read([patient(), tumour])
    warned = [w for w in intake.warnings if w.source == "Condition/rcc" and status in w.message]
    assert warned and warned[0].severity == "warning"


def test_a_confirmed_kidney_cancer_diagnosis_is_not_warned() -> None:
    tumour = primary(id="rcc", verificationStatus=concept(VERIFICATION, "confirmed"))
    intake = read([patient(), tumour])
    assert not [w for w in intake.warnings if "confirm the diagnosis" in w.message]
