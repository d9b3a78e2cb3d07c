"""Partial dates beyond the diagnosis date: a therapy start or end given as a month or a
year is the interval of days it can stand for; a factor is unknown where that interval
straddles its threshold (issue 7 item 4), with a data-quality note naming the resource."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rccnav.core.assess import assess
from rccnav.knowledge.loader import default_knowledge_base

from .builders import ICD10CM, JSON, ON, condition, lab, patient, primary, read, score, statement

SUNITINIB = {"text": "sunitinib 50 mg"}


def _time_factor(case: Any, on: date = ON) -> str:
    result = assess(case, default_knowledge_base(), on)
    (factor,) = [f for f in result.imdc.factors if f.name == "time_to_treatment"]
    return str(factor.status)


@pytest.mark.parametrize(
    ("onset", "start", "status"),
    [
        # Diagnosis 2024-03-15: first anniversary 2025-03-15.
        ("2024-03-15", "2025-03", "unknown"),  # 1-14 March before it, 15-31 March after
        ("2024-03-15", "2025-02", "present"),  # every day of February is before it
        ("2024-03-15", "2025-04", "absent"),
        ("2024-03-15", "2025", "unknown"),
        ("2024-03-15", "2025-03-14", "present"),  # full dates decide
        ("2024-03-15", "2025-03-15", "absent"),
        ("2024-03-15", "2025-03-15T23:30:00+14:00", "absent"),  # the date as written
        # Both partial: diagnosis 1-31 March 2024 (anniversaries 1-31 March 2025).
        ("2024-03", "2025-04", "absent"),  # every start on or after every anniversary
        ("2024-03", "2025-02", "present"),
        ("2024-03", "2025-03", "unknown"),
    ],
)
def test_partial_first_line_start_is_an_interval(onset: str, start: str, status: str) -> None:
    stmt = statement(SUNITINIB, status="active", start=start, id="first-line")
    intake = read([patient(), primary(onset=onset), stmt])
    assert _time_factor(intake.case) == status


def test_partial_start_is_noted_naming_the_resource() -> None:
    stmt = statement(SUNITINIB, status="active", start="2025-03", id="first-line")
    intake = read([patient(), primary(onset="2024-03-15"), stmt])
    notes = [w for w in intake.warnings if "'2025-03'" in w.message]
    assert notes and notes[0].source == "MedicationStatement/first-line"
    assert notes[0].code == "data-quality"
    (therapy,) = intake.case.prior_therapies
    assert (therapy.start, therapy.start_latest) == (date(2025, 3, 1), date(2025, 3, 31))
    result = assess(intake.case, default_knowledge_base(), ON)
    (factor,) = [f for f in result.imdc.factors if f.name == "time_to_treatment"]
    assert "2025-03-01 to 2025-03-31" in factor.evidence


def test_partial_end_is_an_interval_cut_at_the_assessment_date() -> None:
    stmt = statement(SUNITINIB, status="completed", start="2025-03-14", end="2026-11")
    intake = read([patient(), primary(onset="2024-03-15"), stmt], on=date(2026, 11, 20))
    (therapy,) = intake.case.prior_therapies
    assert (therapy.end, therapy.end_latest) == (date(2026, 11, 1), date(2026, 11, 20))


def test_a_month_only_end_in_the_start_month_is_not_before_the_start() -> None:
    stmt = statement(SUNITINIB, status="completed", start="2025-03-14", end="2025-03")
    intake = read([patient(), primary(onset="2024-03-15"), stmt])
    (therapy,) = intake.case.prior_therapies
    assert therapy.end == date(2025, 3, 14) and therapy.end_latest == date(2025, 3, 31)
    assert not [w for w in intake.warnings if "before it starts" in w.message]


# -- results dated only by month or year compete with those in their interval ----------

PLT = "777-3"
KPS = "89243-0"


def _platelets(*results: JSON, on: date = date(2026, 11, 5)) -> tuple[Any, str, list[str]]:
    intake = read([patient(), primary(), *results], on=on)
    result = assess(intake.case, default_knowledge_base(), on)
    (factor,) = [f for f in result.imdc.factors if f.name == "platelets"]
    return intake.case.labs.platelets, str(factor.status), [w.message for w in intake.warnings]


def test_a_month_only_result_that_may_be_the_latest_competes() -> None:
    # "2026-10" may be any day of October: after the 10 October count or before it.
    platelets, status, messages = _platelets(
        lab(PLT, 500, "10*9/L", high=400, when="2026-10", id="month"),
        lab(PLT, 300, "10*9/L", high=400, when="2026-10-10", id="day"),
    )
    assert platelets is None and status == "unknown"
    assert any("Observation/month" in m and "may be the most recent" in m for m in messages)


def test_a_month_only_result_that_agrees_is_used() -> None:
    platelets, status, _ = _platelets(
        lab(PLT, 320, "10*9/L", high=400, when="2026-11", id="month"),
        lab(PLT, 300, "10*9/L", high=400, when="2026-11-10", id="day"),
        on=date(2026, 11, 20),
    )
    assert platelets is not None and status == "absent"


def test_a_month_only_result_wholly_before_the_latest_is_superseded() -> None:
    platelets, status, messages = _platelets(
        lab(PLT, 500, "10*9/L", high=400, when="2026-09", id="month"),
        lab(PLT, 300, "10*9/L", high=400, when="2026-10-10", id="day"),
    )
    assert platelets is not None and platelets.source == "Observation/day"
    assert status == "absent" and not [m for m in messages if "most recent" in m]


def test_a_month_only_performance_status_competes() -> None:
    intake = read(
        [
            patient(),
            primary(),
            score(KPS, 90, when="2026-10-20", id="kps-day"),
            score(KPS, 60, when="2026-10", id="kps-month"),
        ]
    )
    assert intake.case.performance is None
    assert [w for w in intake.warnings if "Observation/kps-month" in w.message]


def test_a_month_only_metastasis_date_is_an_interval() -> None:
    lung = condition(ICD10CM, "C78.01", onset="2026-08", id="lung")
    intake = read([patient(), primary(onset="2024-03-15"), lung], on=date(2026, 8, 20))
    assert intake.case.diagnosis.metastasis_date == date(2026, 8, 1)
    assert intake.case.diagnosis.metastasis_date_latest == date(2026, 8, 20)
    (metastasis,) = intake.case.disease.metastases
    assert metastasis.date_latest == date(2026, 8, 20)
    assert [w for w in intake.warnings if w.source == "Condition/lung" and "'2026-08'" in w.message]


def test_a_full_metastasis_date_has_no_interval() -> None:
    lung = condition(ICD10CM, "C78.01", onset="2026-08-03", id="lung")
    intake = read([patient(), primary(onset="2024-03-15"), lung])
    assert intake.case.diagnosis.metastasis_date_latest is None
