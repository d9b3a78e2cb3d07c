"""Hereditary RCC and who to refer for genetic evaluation (EAU 2022; PDQ genetics)."""

from __future__ import annotations

from typing import Any

import pytest

from rccnav.core.assessment import Decision
from rccnav.core.decisions import genetics
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import make_case

KNOWN_NEGATIVE: dict[str, Any] = {"family_history_of_rcc": False, "bilateral_or_multifocal": False}


def decide(kb: KnowledgeBase, **case: Any) -> Decision:
    case.setdefault("germline", KNOWN_NEGATIVE)
    return genetics.decide(make_case(**case), kb)


@pytest.mark.parametrize(
    ("gene", "rule"),
    [
        ("VHL", "genetics.vhl"),
        ("FH", "genetics.fh"),
        ("MET", "genetics.met"),
        ("FLCN", "genetics.flcn"),
        ("SDHB", "genetics.sdh"),
        ("SDHD", "genetics.sdh"),
        ("BAP1", "genetics.other-genes"),
        ("TSC1", "genetics.tsc"),
        ("TSC2", "genetics.tsc"),
    ],
)
def test_known_variant_names_its_syndrome(kb: KnowledgeBase, gene: str, rule: str) -> None:
    decision = decide(kb, germline={"pathogenic_variants": [gene], "tested": True})
    assert decision.recommendation == "known-hereditary-syndrome"
    assert [r.rule for r in decision.reasons] == [rule]


def test_several_variants_give_one_reason_each_syndrome(kb: KnowledgeBase) -> None:
    decision = decide(kb, germline={"pathogenic_variants": ["SDHB", "SDHC", "VHL"]})
    assert [r.rule for r in decision.reasons] == ["genetics.sdh", "genetics.vhl"]


@pytest.mark.parametrize(
    ("birth_date", "refer"),
    [
        ("1977-03-15", True),  # 44 at diagnosis (2022-03-14)
        ("1976-03-15", True),  # 45: one day short of 46
        ("1976-03-14", False),  # 46 on the day of diagnosis: not < 46
    ],
)
def test_age_below_46_at_diagnosis(kb: KnowledgeBase, birth_date: str, refer: bool) -> None:
    decision = decide(kb, birth_date=birth_date)
    assert (decision.recommendation == "refer-for-genetic-evaluation") is refer


@pytest.mark.parametrize(
    "changes",
    [
        {"germline": {"bilateral_or_multifocal": True, "family_history_of_rcc": False}},
        {"germline": {"family_history_of_rcc": True, "bilateral_or_multifocal": False}},
        {"diagnosis": {"histology": "fh-deficient"}},
        {"diagnosis": {"histology": "sdh-deficient"}},
    ],
)
def test_other_evaluation_triggers(kb: KnowledgeBase, changes: dict[str, Any]) -> None:
    decision = decide(kb, **changes)
    assert decision.recommendation == "refer-for-genetic-evaluation"
    assert {r.rule for r in decision.reasons} == {"genetics.evaluation-triggers"}


def test_trigger_already_tested_without_variant(kb: KnowledgeBase) -> None:
    decision = decide(
        kb, germline={**KNOWN_NEGATIVE, "family_history_of_rcc": True, "tested": True}
    )
    assert decision.recommendation == "tested-no-variant"


def test_no_trigger_when_everything_is_known(kb: KnowledgeBase) -> None:
    decision = decide(kb)
    assert decision.recommendation == "no-trigger"
    assert decision.unknowns == ()


def test_unknown_history_is_uncertain_not_no_trigger(kb: KnowledgeBase) -> None:
    decision = decide(kb, germline={}, birth_date=None)
    assert decision.recommendation == "uncertain"
    assert set(decision.unknowns) == {
        "age at diagnosis",
        "family history of RCC",
        "bilateral or multifocal tumours",
    }


def test_tsc_note_names_mtor_inhibition(kb: KnowledgeBase) -> None:
    # EXIST-2 (Bissler 2013): everolimus for TSC angiomyolipoma; mTOR pathway activation.
    decision = genetics.decide(make_case(germline={"pathogenic_variants": ["TSC2"]}), kb)
    assert any("mTOR" in r.text for r in decision.reasons)


@pytest.mark.parametrize(
    ("sickle", "expect", "unknown"),
    [
        (None, "test for sickle haemoglobin", True),
        ("trait", "inform relatives", False),
        ("disease", "inform relatives", False),
        ("none", "review the diagnosis", False),
    ],
)
def test_medullary_carcinoma_asks_for_sickle_haemoglobin(
    kb: KnowledgeBase, sickle: str | None, expect: str, unknown: bool
) -> None:
    # Alvarez 2015: sickle-cell trait in 88%, disease in 8% of 217 RMC cases.
    case = make_case(diagnosis={"histology": "medullary"}, comorbidities={"sickle_cell": sickle})
    decision = genetics.decide(case, kb)
    first = decision.reasons[0]
    assert first.rule == "genetics.medullary-sickle-cell" and expect in first.text
    assert ("sickle haemoglobin status" in decision.unknowns) is unknown


def test_no_sickle_note_for_clear_cell(kb: KnowledgeBase) -> None:
    decision = genetics.decide(make_case(), kb)
    assert all(r.rule != "genetics.medullary-sickle-cell" for r in decision.reasons)
