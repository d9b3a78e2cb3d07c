"""assess(): the one pure entry point composes every decision and states the KB version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from rccnav.core.assessment import Assessment
from rccnav.knowledge.model import KnowledgeBase

from .conftest import ON, lab, make_case


def test_assessment_states_the_knowledge_base(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    result = run(make_case())
    assert result.knowledge_base.version == kb.version
    assert result.knowledge_base.checksum == kb.checksum
    assert result.on == ON
    assert result.case_id == "test-case"


def test_baseline_case_is_favorable_and_quiet(run: Callable[..., Assessment]) -> None:
    result = run(make_case())
    assert result.imdc.risk_group == "favorable"
    assert result.mskcc.risk_group == "favorable"
    assert result.systemic_therapy.line == 1
    assert [w for w in result.warnings if w.severity != "info"] == []
    assert result.ignored_data == ()


def test_assess_is_pure(run: Callable[..., Assessment]) -> None:
    case = make_case(proposed_therapy={"agents": ["ipilimumab", "cabozantinib"]})
    before = case.model_dump()
    first, second = run(case), run(case)
    assert case.model_dump() == before
    assert first == second


def test_ignored_data_collects_labs_and_therapies_after_the_date(
    run: Callable[..., Assessment],
) -> None:
    later = ON + timedelta(days=5)
    case = make_case(
        labs={"ldh": lab(900, "U/L", 125, 250, day=later)},
        prior_therapies=[{"agents": ["sunitinib"], "start": later.isoformat()}],
    )
    result = run(case)
    assert len(result.ignored_data) == 2
    assert result.systemic_therapy.line == 1
    assert result.mskcc.risk_group is None  # LDH is now unknown, not normal


def test_assessing_on_an_earlier_date_sees_less(run: Callable[..., Assessment]) -> None:
    case = make_case()
    earlier = run(case, on=ON - timedelta(days=60))
    # Every lab is dated after that day: all lab factors unknown.
    statuses = {f.name: f.status for f in earlier.imdc.factors}
    assert statuses["hemoglobin"] == statuses["platelets"] == "unknown"
    assert earlier.imdc.risk_group is None


def test_missing_factor_that_decides_nivolumab_ipilimumab_changes_the_regimens(
    run: Callable[..., Assessment],
) -> None:
    # Favorable or intermediate while calcium is unknown: nivolumab + ipilimumab is listed
    # only for intermediate risk (CheckMate 214; EAU/ESMO), so knowing calcium could change
    # the regimens, not just the group.
    result = run(make_case(labs={"calcium_total": None, "albumin": None}))
    assert result.imdc.possible_groups == ("favorable", "intermediate")
    calcium = next(m for m in result.imdc.missing if m.factor == "calcium")
    assert calcium.could_change_group and calcium.could_change_regimens
    assert result.systemic_therapy.depends_on_unknown_risk


def test_missing_factor_that_cannot_move_the_group_changes_no_regimen(
    run: Callable[..., Assessment],
) -> None:
    # Poor risk with four factors present stays poor whatever calcium is.
    result = run(
        make_case(
            performance={"kps": 60, "ecog": None},
            diagnosis={"date": ON - timedelta(days=100)},
            labs={
                "hemoglobin": lab(9.0, "g/dL", 12.0, 15.5),
                "platelets": lab(600, "10*9/L", 150, 400),
                "calcium_total": None,
                "albumin": None,
            },
        )
    )
    assert result.imdc.risk_group == "poor"
    calcium = next(m for m in result.imdc.missing if m.factor == "calcium")
    assert not calcium.could_change_group and not calcium.could_change_regimens
