"""The line of systemic therapy for metastatic disease and prior drug-class exposure."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from rccnav.core.decisions.lines import current_line
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case


def prior(*agents: str, **extra: Any) -> dict[str, Any]:
    return {"agents": list(agents), "start": "2025-01-10", "end": "2026-06-01", **extra}


def test_no_prior_therapy_is_first_line(kb: KnowledgeBase) -> None:
    line = current_line(make_case(), kb, ON)
    assert line.number == 1
    assert line.exposure == frozenset()
    assert not line.progressed_on_pd1_axis


def test_each_completed_metastatic_line_counts(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            prior("pembrolizumab", "axitinib", stop_reason="progression"),
            prior("cabozantinib", start="2026-06-10", end="2026-10-01"),
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 3
    assert line.current is None
    assert line.exposure == {"checkpoint-inhibitor", "vegf-targeted"}
    assert line.prior_agents == {"pembrolizumab", "axitinib", "cabozantinib"}
    assert line.progressed_on_pd1_axis


def test_an_ongoing_therapy_is_the_current_line_not_a_prior_one(kb: KnowledgeBase) -> None:
    # Neither an end date nor a stop reason: the patient is on it now (therapy.current-line).
    case = make_case(
        prior_therapies=[
            prior("sunitinib", stop_reason="progression"),
            prior("cabozantinib", start="2026-06-10", end=None),
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 2
    assert line.current is not None and line.current.agents == ("cabozantinib",)
    assert "cabozantinib" not in line.prior_agents
    assert [r.rule for r in line.reasons] == ["therapy.current-line"]


def test_a_stop_reason_without_end_date_completes_a_line(kb: KnowledgeBase) -> None:
    case = make_case(prior_therapies=[prior("sunitinib", end=None, stop_reason="toxicity")])
    line = current_line(case, kb, ON)
    assert line.number == 2 and line.current is None


def test_adjuvant_therapy_is_not_a_metastatic_line(kb: KnowledgeBase) -> None:
    # Adjuvant pembrolizumab ended 2024-06-01; metastases (2026-09-01) came 27 months later.
    case = make_case(
        prior_therapies=[
            prior("pembrolizumab", setting="adjuvant", start="2023-06-01", end="2024-06-01")
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 1
    assert line.exposure == frozenset()
    assert not line.progressed_on_pd1_axis


@pytest.mark.parametrize(
    ("end", "stop_reason"),
    [
        ("2026-08-01", None),  # metastases 2026-09-01: one month after the end
        ("2026-03-05", None),  # within 6 months of the end
        ("2025-12-01", "progression"),  # recurrence recorded as progression on it
    ],
)
def test_relapse_on_or_soon_after_adjuvant_pd1_counts_as_progression_on_it(
    kb: KnowledgeBase, end: str, stop_reason: str | None
) -> None:
    case = make_case(
        prior_therapies=[
            prior(
                "pembrolizumab",
                setting="adjuvant",
                start="2025-06-01",
                end=end,
                stop_reason=stop_reason,
            )
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 1  # still first line for metastatic disease
    assert line.exposure == {"checkpoint-inhibitor"}
    assert line.progressed_on_pd1_axis
    assert [r.rule for r in line.reasons] == ["therapy.adjuvant-ici-relapse"]


def test_late_relapse_after_adjuvant_pd1_is_not_progression_on_it(kb: KnowledgeBase) -> None:
    # 2026-02-15 + 6 months = mid-August; metastases on 2026-09-01 are later.
    case = make_case(
        prior_therapies=[
            prior("pembrolizumab", setting="adjuvant", start="2025-03-01", end="2026-02-15")
        ]
    )
    line = current_line(case, kb, ON)
    assert not line.progressed_on_pd1_axis
    assert line.exposure == frozenset()


def test_prior_therapy_starting_after_the_assessment_date_is_ignored(kb: KnowledgeBase) -> None:
    later = (ON + timedelta(days=3)).isoformat()
    case = make_case(prior_therapies=[prior("sunitinib", start=later, end=None)])
    line = current_line(case, kb, ON)
    assert line.number == 1
    assert line.ignored and later in line.ignored[0]


def test_brand_names_and_aliases_resolve_to_agent_classes(kb: KnowledgeBase) -> None:
    case = make_case(prior_therapies=[prior("Opdivo", "Yervoy")])
    line = current_line(case, kb, ON)
    assert line.prior_agents == {"nivolumab", "ipilimumab"}
    assert line.exposure == {"checkpoint-inhibitor"}


def test_unknown_prior_agent_is_a_data_quality_warning(kb: KnowledgeBase) -> None:
    case = make_case(prior_therapies=[prior("wonderdrug")])
    line = current_line(case, kb, ON)
    assert line.number == 2  # it was still a line of therapy
    assert [w.code for w in line.warnings] == ["data-quality"]
    assert "wonderdrug" in line.warnings[0].message


def test_progression_is_read_from_stop_reason_or_best_response(kb: KnowledgeBase) -> None:
    by_response = make_case(
        prior_therapies=[prior("nivolumab", best_response="progressive-disease")]
    )
    by_toxicity = make_case(prior_therapies=[prior("nivolumab", stop_reason="toxicity")])
    vegf_only = make_case(prior_therapies=[prior("sunitinib", stop_reason="progression")])
    assert current_line(by_response, kb, ON).progressed_on_pd1_axis
    assert not current_line(by_toxicity, kb, ON).progressed_on_pd1_axis
    # Progression on a VEGF-TKI is not progression on a PD-1/PD-L1 inhibitor.
    assert not current_line(vegf_only, kb, ON).progressed_on_pd1_axis


def test_the_therapy_started_last_is_the_current_one(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            {"agents": ["sunitinib"], "start": "2024-02-01"},  # end not recorded
            {"agents": ["cabozantinib"], "start": "2026-06-01"},
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 2
    assert line.current is not None and line.current.agents == ("cabozantinib",)
    assert "sunitinib" in line.prior_agents


# --- lines as oncologists count them (rule therapy.line-of-therapy) ------------------


def course(*agents: str, start: str, end: str | None, **extra: Any) -> dict[str, Any]:
    return {"agents": list(agents), "start": start, "end": end, **extra}


IPI_NIVO_INDUCTION = course(
    "ipilimumab", "nivolumab", start="2024-01-08", end="2024-03-11", stop_reason="completed"
)


def test_maintenance_after_induction_stays_in_the_line_and_its_progression_counts(
    kb: KnowledgeBase,
) -> None:
    # CheckMate 214 schedule: 4 doses of ipilimumab + nivolumab, then nivolumab alone.
    # Ipilimumab "completed" must not hide progression on nivolumab maintenance.
    case = make_case(
        prior_therapies=[
            IPI_NIVO_INDUCTION,
            course("nivolumab", start="2024-04-01", end="2025-02-10", stop_reason="progression"),
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 2
    (first,) = line.prior
    assert set(first.agents) == {"ipilimumab", "nivolumab"}
    assert first.start == date(2024, 1, 8)
    assert first.stop_reason == "progression"
    assert line.progressed_on_pd1_axis
    rules = [r.rule for r in line.reasons]
    assert "therapy.line-of-therapy" in rules and "therapy.line-progression" in rules


def test_running_maintenance_is_the_current_first_line(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[IPI_NIVO_INDUCTION, course("nivolumab", start="2024-04-01", end=None)]
    )
    line = current_line(case, kb, ON)
    assert line.number == 1
    assert line.current is not None
    assert set(line.current.agents) == {"ipilimumab", "nivolumab"}
    assert line.prior == () and line.exposure == frozenset()


@pytest.mark.parametrize(
    "stop_reason",
    ["toxicity", "patient-choice", "other", "completed"],
)
def test_a_hold_and_dose_reduced_restart_is_one_line(kb: KnowledgeBase, stop_reason: str) -> None:
    # Sunitinib held 6 weeks (stop reason recorded for the hold), resumed at 37.5 mg.
    case = make_case(
        prior_therapies=[
            course("sunitinib", start="2024-05-01", end="2024-09-01", stop_reason=stop_reason),
            course("Sutent", start="2024-10-13", end="2025-06-01", stop_reason="progression"),
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 2
    assert line.prior[0].stop_reason == "progression"


def test_order_of_the_records_does_not_change_the_count(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            course("nivolumab", start="2024-04-01", end="2025-02-10", stop_reason="progression"),
            course("cabozantinib", start="2025-03-01", end="2026-05-01"),
            IPI_NIVO_INDUCTION,
        ]
    )
    assert current_line(case, kb, ON).number == 3


@pytest.mark.parametrize(
    ("first", "second", "lines"),
    [
        # Progression between the two: restarting the same drug is a new line (rechallenge).
        (
            course("sunitinib", start="2024-01-01", end="2024-06-01", stop_reason="progression"),
            course("sunitinib", start="2024-06-20", end="2025-01-01"),
            2,
        ),
        # A treatment-free gap longer than 180 days: a new line.
        (
            course("sunitinib", start="2024-01-01", end="2024-06-01", stop_reason="completed"),
            course("sunitinib", start="2024-12-01", end="2025-06-01"),
            2,
        ),
        # Exactly at the 180-day gap: still the same line.
        (
            course("sunitinib", start="2024-01-01", end="2024-06-01", stop_reason="toxicity"),
            course("sunitinib", start="2024-11-28", end="2025-06-01"),
            1,
        ),
        # An added agent is a new regimen, so a new line.
        (
            course("axitinib", start="2024-01-01", end="2024-06-01"),
            course("axitinib", "pembrolizumab", start="2024-06-15", end="2025-06-01"),
            2,
        ),
        # A switch to another drug, even for toxicity, is a new line.
        (
            course("sunitinib", start="2024-01-01", end="2024-03-01", stop_reason="toxicity"),
            course("pazopanib", start="2024-03-10", end="2025-06-01"),
            2,
        ),
        # Progression recorded as best response (not as stop reason) also ends the line.
        (
            course(
                "cabozantinib",
                start="2024-01-01",
                end="2024-06-01",
                best_response="progressive-disease",
            ),
            course("cabozantinib", start="2024-06-10", end="2025-06-01"),
            2,
        ),
    ],
)
def test_new_line_boundaries(
    kb: KnowledgeBase, first: dict[str, Any], second: dict[str, Any], lines: int
) -> None:
    case = make_case(prior_therapies=[first, second])
    assert current_line(case, kb, ON).number == lines + 1


# --- adjuvant therapy of every class (rule therapy.adjuvant-exposure) -----------------


def test_relapse_on_adjuvant_sunitinib_counts_it_as_received_and_refractory(
    kb: KnowledgeBase,
) -> None:
    # S-TRAC regimen, 1 year; metastases (2026-09-01) found 3 months after it ended.
    case = make_case(
        prior_therapies=[
            course("sunitinib", setting="adjuvant", start="2025-06-01", end="2026-06-01")
        ]
    )
    line = current_line(case, kb, ON)
    assert line.number == 1
    assert "sunitinib" in line.prior_agents and "sunitinib" in line.adjuvant_agents
    assert line.exposure == {"vegf-targeted"}
    assert not line.progressed_on_pd1_axis
    assert [r.rule for r in line.reasons] == ["therapy.adjuvant-exposure"]
    assert "refractory" in line.reasons[0].text


def test_late_relapse_after_adjuvant_sunitinib_still_no_repeat(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            course("sunitinib", setting="adjuvant", start="2023-01-01", end="2024-01-01")
        ]
    )
    line = current_line(case, kb, ON)
    assert "sunitinib" in line.prior_agents
    assert line.exposure == frozenset()


def test_recurrence_is_measured_after_ned_not_from_the_resected_metastasis(
    kb: KnowledgeBase,
) -> None:
    # M1 NED (KEYNOTE-564): lung metastasis found 2024-02-01 and resected; adjuvant
    # pembrolizumab 2024-04-01 to 2025-03-20; new liver metastasis 2026-09-01, 17 months
    # after the end: not a relapse on adjuvant PD-1 (> 6 months).
    case = make_case(
        diagnosis={"metastasis_date": "2024-02-01"},
        disease={
            "metastases": [
                {"site": "lung", "lesions": 1, "date": "2024-02-01", "treated": True},
                {"site": "liver", "lesions": 2, "date": "2026-09-01"},
            ]
        },
        prior_therapies=[
            course("pembrolizumab", setting="adjuvant", start="2024-04-01", end="2025-03-20")
        ],
    )
    line = current_line(case, kb, ON)
    assert not line.progressed_on_pd1_axis
    assert line.exposure == frozenset()
    assert "2026-09-01" in line.reasons[0].text


def test_recurrence_on_adjuvant_after_ned_is_refractory(kb: KnowledgeBase) -> None:
    case = make_case(
        diagnosis={"metastasis_date": "2024-02-01"},
        disease={
            "metastases": [
                {"site": "lung", "date": "2024-02-01"},
                {"site": "lung", "date": "2025-01-15"},
            ]
        },
        prior_therapies=[
            course("pembrolizumab", setting="adjuvant", start="2024-04-01", end="2024-12-20")
        ],
    )
    line = current_line(case, kb, ON)
    assert line.progressed_on_pd1_axis
    assert line.exposure == {"checkpoint-inhibitor"}


def test_unknown_recurrence_timing_is_said_not_assumed(kb: KnowledgeBase) -> None:
    # The only metastasis dates precede the adjuvant therapy: the recurrence is undated.
    case = make_case(
        diagnosis={"metastasis_date": "2024-02-01"},
        prior_therapies=[
            course("pembrolizumab", setting="adjuvant", start="2024-04-01", end="2025-03-20")
        ],
    )
    line = current_line(case, kb, ON)
    assert not line.progressed_on_pd1_axis
    (reason,) = line.reasons
    assert "cannot be judged" in reason.text and "rechallenge" in reason.text


# --- partial dates: a month-only end is the interval of its days ----------------------


@pytest.mark.parametrize(
    ("end", "end_latest", "refractory"),
    [
        # 6 months after 1-28 Feb 2026 is before the recurrence on 2026-09-01: late.
        ("2026-02-01", "2026-02-28", False),
        # 1 Mar + 6 months is before 1 Sep, 31 Mar + 6 months after: cannot be judged.
        ("2026-03-01", "2026-03-31", None),
        # every day of April + 6 months is after 1 Sep: within the window.
        ("2026-04-01", "2026-04-30", True),
        ("2026-03-01", None, False),  # a full date decides
    ],
)
def test_month_only_adjuvant_end_is_an_interval(
    kb: KnowledgeBase, end: str, end_latest: str | None, refractory: bool | None
) -> None:
    therapy = prior("sunitinib", setting="adjuvant", start="2025-03-01", end=end)
    if end_latest:
        therapy["end_latest"] = end_latest
    line = current_line(make_case(prior_therapies=[therapy]), kb, ON)
    assert line.adjuvant_refractory is refractory
    if refractory is None:
        (reason,) = [r.text for r in line.reasons]
        assert "2026-03-01 to 2026-03-31" in reason


def test_month_only_first_line_start_bounds_the_latest_start(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            prior("sunitinib", start="2025-03-01", start_latest="2025-03-31", end="2025-09-01"),
            prior("cabozantinib", start="2025-09-10", end=None),
        ]
    )
    line = current_line(case, kb, ON)
    assert line.first is not None and line.first.start_latest == date(2025, 3, 31)
    assert line.first_latest_start == date(2025, 3, 31)


@pytest.mark.parametrize(
    ("recurrence", "recurrence_latest", "refractory"),
    [
        # Adjuvant ended 2026-02-15; 6 months later is 2026-08-17.
        ("2026-08-01", "2026-08-31", None),  # some days of August within, some after
        ("2026-07-01", "2026-07-31", True),  # every day of July within
        ("2026-09-01", "2026-09-30", False),  # every day of September after
        ("2026-08-01", None, True),  # a full date decides
    ],
)
def test_month_only_recurrence_date_is_an_interval(
    kb: KnowledgeBase, recurrence: str, recurrence_latest: str | None, refractory: bool | None
) -> None:
    therapy = prior("pembrolizumab", setting="adjuvant", start="2025-03-01", end="2026-02-15")
    diagnosis = {"metastasis_date": recurrence, "metastasis_date_latest": recurrence_latest}
    case = make_case(prior_therapies=[therapy], diagnosis=diagnosis)
    line = current_line(case, kb, ON)
    assert line.adjuvant_refractory is refractory
    assert line.progressed_on_pd1_axis is (refractory is True)


def test_month_only_metastasis_interval_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="metastasis_date_latest"):
        make_case(
            diagnosis={"metastasis_date": "2026-09-30", "metastasis_date_latest": "2026-09-01"}
        )
