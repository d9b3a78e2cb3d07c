"""The line of systemic therapy for metastatic disease and prior drug-class exposure."""

from __future__ import annotations

from datetime import timedelta
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
