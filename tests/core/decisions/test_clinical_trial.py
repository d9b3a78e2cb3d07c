"""When a clinical trial is the better route (seed; PDQ; NCCN)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rccnav.core.assessment import Assessment

from ..conftest import make_case


def trial_rules(run: Callable[..., Assessment], **case: Any) -> tuple[str, set[str | None]]:
    decision = run(make_case(**case)).clinical_trial
    return decision.recommendation, {r.rule for r in decision.reasons}


def test_first_line_clear_cell_without_a_trigger_is_consider(
    run: Callable[..., Assessment],
) -> None:
    assert trial_rules(run) == ("consider", {"trial.always-consider"})


def test_histology_where_guidelines_prefer_a_trial(run: Callable[..., Assessment]) -> None:
    recommendation, rules = trial_rules(run, diagnosis={"histology": "chromophobe"})
    assert recommendation == "recommended"
    assert "trial.preferred-by-guideline" in rules


def test_hereditary_rcc(run: Callable[..., Assessment]) -> None:
    recommendation, rules = trial_rules(run, germline={"pathogenic_variants": ["VHL"]})
    assert recommendation == "recommended"
    assert "trial.hereditary" in rules


def test_third_line_and_later(run: Callable[..., Assessment]) -> None:
    one = [{"agents": ["pembrolizumab", "axitinib"], "start": "2024-03-01", "end": "2025-05-20"}]
    two = [*one, {"agents": ["cabozantinib"], "start": "2025-06-01", "end": "2026-09-15"}]
    second_line = trial_rules(run, prior_therapies=one)
    third_line = trial_rules(run, prior_therapies=two)
    assert "trial.later-lines" not in second_line[1]
    assert third_line[0] == "recommended" and "trial.later-lines" in third_line[1]
