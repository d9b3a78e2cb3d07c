"""Survival figures say which cohort they come from when it is not this patient's
(clear-cell first-line cohorts: Heng 2013, Motzer 2002; second line: Ko 2015)."""

from __future__ import annotations

import pytest

import rccnav
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case

AFTER_ONE_LINE = [
    {
        "agents": ["pembrolizumab", "axitinib"],
        "start": "2023-01-10",
        "end": "2026-06-01",
        "stop_reason": "progression",
    }
]
AFTER_TWO_LINES = [
    *AFTER_ONE_LINE,
    {
        "agents": ["cabozantinib"],
        "start": "2026-06-10",
        "end": "2026-10-01",
        "stop_reason": "progression",
    },
]


def test_clear_cell_first_line_figures_carry_no_caveat(kb: KnowledgeBase) -> None:
    result = rccnav.assess(make_case(), kb, ON)
    assert result.imdc.survival and all(s.caveat is None for s in result.imdc.survival)
    assert result.mskcc.survival and all(s.caveat is None for s in result.mskcc.survival)


@pytest.mark.parametrize("histology", ["papillary", "chromophobe", "unclassified", None])
def test_non_clear_cell_figures_say_they_come_from_clear_cell_cohorts(
    kb: KnowledgeBase, histology: str | None
) -> None:
    case = make_case(diagnosis={"histology": histology})
    result = rccnav.assess(case, kb, ON)
    for model in (result.imdc, result.mskcc):
        assert model.survival
        for row in model.survival:
            assert row.caveat is not None and "clear-cell" in row.caveat


def test_second_line_figures_say_they_come_from_the_targeted_therapy_era(
    kb: KnowledgeBase,
) -> None:
    result = rccnav.assess(make_case(prior_therapies=AFTER_ONE_LINE), kb, ON)
    assert result.systemic_therapy.line == 2
    assert all(s.setting == "second-line" for s in result.imdc.survival)
    assert all(s.caveat and "Ko 2015" in s.caveat for s in result.imdc.survival)
    # MSKCC has only first-line figures: they must say so.
    assert all(s.caveat and "first-line" in s.caveat for s in result.mskcc.survival)


def test_third_line_figures_say_none_were_published_for_it(kb: KnowledgeBase) -> None:
    result = rccnav.assess(make_case(prior_therapies=AFTER_TWO_LINES), kb, ON)
    assert result.systemic_therapy.line == 3
    assert all(s.caveat and "line 3" in s.caveat for s in result.imdc.survival)
