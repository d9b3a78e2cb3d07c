"""From factors to a risk group: 0 favorable, 1-2 intermediate, >= 3 poor (§§1.2, 2.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rccnav.core.assessment import Assessment, Factor, FactorStatus
from rccnav.core.prognosis.risk import classify, group_for_count
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import factor, lab, make_case

IMDC_NAMES = (
    "performance_status",
    "time_to_treatment",
    "hemoglobin",
    "calcium",
    "neutrophils",
    "platelets",
)


def factors(*statuses: FactorStatus) -> tuple[Factor, ...]:
    return tuple(
        Factor(name, status, "test") for name, status in zip(IMDC_NAMES, statuses, strict=True)
    )


def imdc(kb: KnowledgeBase, *statuses: FactorStatus):  # type: ignore[no-untyped-def]
    return classify("imdc", factors(*statuses), kb, "prognosis.imdc", "first-line")


@pytest.mark.parametrize(
    ("count", "group"),
    [
        (0, "favorable"),
        (1, "intermediate"),
        (2, "intermediate"),
        (3, "poor"),
        (4, "poor"),
        (6, "poor"),
    ],
)
def test_group_for_count(kb: KnowledgeBase, count: int, group: str) -> None:
    assert group_for_count(count) == group
    statuses: list[FactorStatus] = ["present"] * count + ["absent"] * (6 - count)
    result = imdc(kb, *statuses)
    assert result.risk_group == group
    assert result.possible_groups == (group,)
    assert result.factor_count_min == result.factor_count_max == count
    assert result.missing == ()


@pytest.mark.parametrize(
    ("statuses", "possible"),
    [
        # 0 present + 1 unknown: 0 or 1 factor
        (
            ("unknown", "absent", "absent", "absent", "absent", "absent"),
            ("favorable", "intermediate"),
        ),
        # 1 present + 1 unknown: 1 or 2, intermediate either way: determined
        (("present", "unknown", "absent", "absent", "absent", "absent"), ("intermediate",)),
        # 2 present + 1 unknown: 2 or 3
        (("present", "present", "unknown", "absent", "absent", "absent"), ("intermediate", "poor")),
        # 0 present + 3 unknown: 0-3, every group
        (
            ("unknown", "unknown", "unknown", "absent", "absent", "absent"),
            ("favorable", "intermediate", "poor"),
        ),
        # 3 present: poor whatever the unknowns are
        (("present", "present", "present", "unknown", "unknown", "unknown"), ("poor",)),
        # nothing known at all
        (("unknown",) * 6, ("favorable", "intermediate", "poor")),
    ],
)
def test_possible_groups_with_unknowns(
    kb: KnowledgeBase, statuses: tuple[FactorStatus, ...], possible: tuple[str, ...]
) -> None:
    result = imdc(kb, *statuses)
    assert result.possible_groups == possible
    assert result.risk_group == (possible[0] if len(possible) == 1 else None)
    present = statuses.count("present")
    assert result.factor_count_min == present
    assert result.factor_count_max == present + statuses.count("unknown")


def test_missing_lists_every_unknown_factor_with_what_is_needed(kb: KnowledgeBase) -> None:
    result = imdc(kb, "unknown", "absent", "unknown", "absent", "absent", "absent")
    assert [m.factor for m in result.missing] == ["performance_status", "hemoglobin"]
    assert all(m.needed for m in result.missing)
    assert all(m.could_change_group for m in result.missing)


def test_missing_factor_that_cannot_change_the_group(kb: KnowledgeBase) -> None:
    # One present + one unknown: 1 or 2 factors, intermediate either way.
    determined = imdc(kb, "present", "unknown", "absent", "absent", "absent", "absent")
    assert [m.could_change_group for m in determined.missing] == [False]
    # Poor already: further factors cannot change it.
    poor = imdc(kb, "present", "present", "present", "unknown", "absent", "absent")
    assert [m.could_change_group for m in poor.missing] == [False]


def test_survival_rows_follow_the_possible_groups(kb: KnowledgeBase) -> None:
    result = imdc(kb, "present", "present", "unknown", "absent", "absent", "absent")
    assert {s.risk_group for s in result.survival} == {"intermediate", "poor"}
    # Heng 2013 external validation: 22.5 and 7.8 months (reference §1.3, verified).
    by_group = {s.risk_group: s.median_os_months for s in result.survival}
    assert by_group == {"intermediate": 22.5, "poor": 7.8}
    assert all(s.sources for s in result.survival)


def test_result_cites_the_model_rule(kb: KnowledgeBase) -> None:
    result = imdc(kb, *(["absent"] * 6))
    assert result.rule == "prognosis.imdc"
    assert set(result.sources) == set(kb.rule("prognosis.imdc").sources)


# --- end to end through assess -------------------------------------------------------


def test_all_six_imdc_factors_present_is_poor(run: Callable[..., Assessment]) -> None:
    case = make_case(
        performance={"kps": 60},
        diagnosis={"date": "2026-09-01"},
        labs={
            "hemoglobin": lab(9.5, "g/dL", 12.0, 15.5),
            "calcium_total": lab(11.0, "mg/dL", 8.5, 10.2),
            "neutrophils": lab(9.0, "10*9/L", 1.5, 7.5),
            "platelets": lab(520, "10*9/L", 150, 400),
            "ldh": lab(600, "U/L", 125, 250),
        },
    )
    result = run(case)
    assert result.imdc.factor_count_min == 6
    assert result.imdc.risk_group == "poor"
    assert result.mskcc.factor_count_min == 5
    assert result.mskcc.risk_group == "poor"


def test_models_can_disagree(run: Callable[..., Assessment]) -> None:
    # Thrombocytosis and neutrophilia count for IMDC only; LDH for MSKCC only.
    case = make_case(
        labs={
            "neutrophils": lab(9.0, "10*9/L", 1.5, 7.5),
            "platelets": lab(520, "10*9/L", 150, 400),
            "hemoglobin": lab(11.0, "g/dL", 12.0, 15.5),
        }
    )
    result = run(case)
    assert result.imdc.risk_group == "poor"
    assert result.mskcc.risk_group == "intermediate"
    assert factor(result.mskcc, "hemoglobin").status == "present"


def test_synchronous_metastatic_disease_cannot_be_favorable(run: Callable[..., Assessment]) -> None:
    # Diagnosed two months ago and treated now: the time factor is present (§1.4).
    case = make_case(diagnosis={"date": "2026-09-01"})
    result = run(case)
    assert "favorable" not in result.imdc.possible_groups
    assert result.imdc.risk_group == "intermediate"


def test_second_line_survival_is_shown_after_one_prior_line(run: Callable[..., Assessment]) -> None:
    case = make_case(
        prior_therapies=[
            {"agents": ["sunitinib"], "start": "2025-01-10", "end": "2026-08-01"},
        ]
    )
    result = run(case)
    assert result.imdc.survival and {s.setting for s in result.imdc.survival} == {"second-line"}
    assert {s.setting for s in result.mskcc.survival} == {"first-line"}
