"""Helpers shared by the decision modules: reading the Case the clinical way."""

from __future__ import annotations

from typing import Any

import pytest

from rccnav.core.decisions.common import (
    because,
    brain_metastases,
    good_performance,
    organ_sites,
    primary_symptomatic,
    total_lesions,
)
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import make_case


@pytest.mark.parametrize(
    ("performance", "expected"),
    [
        ({"kps": 80}, True),  # KPS >= 80 (KCRNC; IFN-era CN trials)
        ({"kps": 70}, False),
        ({"kps": None, "ecog": 1}, True),  # ECOG 0-1
        ({"kps": None, "ecog": 2}, False),
        ({"kps": None, "ecog": None}, None),
        (None, None),
    ],
)
def test_good_performance(performance: dict[str, Any] | None, expected: bool | None) -> None:
    assert good_performance(make_case(performance=performance)) is expected


def test_total_lesions_is_unknown_if_any_site_lacks_a_count() -> None:
    both = make_case(
        disease={"metastases": [{"site": "lung", "lesions": 2}, {"site": "bone", "lesions": 1}]}
    )
    partial = make_case(disease={"metastases": [{"site": "lung", "lesions": 2}, {"site": "bone"}]})
    assert total_lesions(both) == 3
    assert total_lesions(partial) is None
    assert total_lesions(make_case()) is None
    assert organ_sites(both) == {"lung", "bone"}


@pytest.mark.parametrize(
    ("disease", "expected"),
    [
        ({}, (None, None)),  # nothing recorded: unknown
        ({"metastases": [{"site": "lung"}], "metastases_recorded": True}, (False, None)),
        ({"metastases": [{"site": "brain"}]}, (True, True)),  # treatment not recorded: untreated
        ({"metastases": [{"site": "brain", "treated": True}]}, (True, False)),
    ],
)
def test_brain_metastases(
    disease: dict[str, Any], expected: tuple[bool | None, bool | None]
) -> None:
    assert brain_metastases(make_case(disease=disease)) == expected


@pytest.mark.parametrize(
    ("primary", "expected"),
    [
        ({}, None),
        ({"bleeding": True}, True),
        ({"pain": True, "bleeding": False}, True),
        ({"bleeding": False, "pain": False}, False),
        ({"bleeding": False}, None),
    ],
)
def test_primary_symptomatic(primary: dict[str, Any], expected: bool | None) -> None:
    assert primary_symptomatic(make_case(primary_tumour=primary)) is expected


def test_because_cites_the_rule_and_its_sources(kb: KnowledgeBase) -> None:
    reason = because(kb, "cn.avoid-poor-risk")
    assert reason.rule == "cn.avoid-poor-risk"
    assert reason.text == kb.rule("cn.avoid-poor-risk").statement
    assert reason.sources == kb.rule("cn.avoid-poor-risk").sources
    assert because(kb, "cn.avoid-poor-risk", "custom").text == "custom"
    with pytest.raises(KeyError):
        because(kb, "no.such-rule")
