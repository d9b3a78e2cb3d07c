"""Cytoreductive nephrectomy: KCRNC 2019, EAU 2019 after CARMENA/SURTIME (reference §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rccnav.core.assessment import Assessment, Decision, RiskGroupName
from rccnav.core.decisions import cytoreductive_nephrectomy
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import make_case, risk_result

#: Primary in place and resectable; brain imaged clean; no seed criterion yet.
PRIMARY: dict[str, Any] = {
    "in_place": True,
    "resectable": True,
    "bleeding": False,
    "pain": False,
    "paraneoplastic_syndrome": False,
    "contralateral_kidney_normal": True,
}
DISEASE: dict[str, Any] = {
    "metastases": [{"site": "lung", "lesions": 2}],
    "metastases_recorded": True,
    "symptomatic_metastases": False,
    "rapidly_progressing": False,
}


def decide(
    kb: KnowledgeBase, *possible: RiskGroupName, primary: dict[str, Any] | None = None, **case: Any
) -> Decision:
    built = make_case(
        primary_tumour={**PRIMARY, **(primary or {})},
        disease={**DISEASE, **case.pop("disease", {})},
        **case,
    )
    return cytoreductive_nephrectomy.decide(built, risk_result(*possible), kb)


def rules(decision: Decision) -> set[str | None]:
    return {r.rule for r in decision.reasons}


@pytest.mark.parametrize(
    "primary", [{"in_place": False}, {"in_place": None, "nephrectomy_date": "2021-05-01"}]
)
def test_removed_primary_is_not_applicable(kb: KnowledgeBase, primary: dict[str, Any]) -> None:
    decision = decide(kb, "favorable", primary=primary)
    assert decision.recommendation == "not-applicable"
    assert rules(decision) == {"cn.primary-removed"}


def test_poor_risk_is_not_recommended(kb: KnowledgeBase) -> None:
    # EAU 2019 (strong); CARMENA: sunitinib alone non-inferior.
    decision = decide(kb, "poor", primary={"renal_share_of_burden": "high"})
    assert decision.recommendation == "not-recommended"
    assert "cn.avoid-poor-risk" in rules(decision)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {"disease": {"metastases": [{"site": "brain", "treated": False}]}},
            "cn.avoid-active-brain-metastases",
        ),
        ({"primary": {"renal_share_of_burden": "low"}}, "cn.avoid-low-renal-share"),
        ({"performance": {"kps": 70}}, "cn.avoid-poor-performance"),
        ({"performance": {"kps": None, "ecog": 2}}, "cn.avoid-poor-performance"),
        ({"disease": {"rapidly_progressing": True}}, "cn.avoid-rapid-progression"),
        ({"disease": {"symptomatic_metastases": True}}, "cn.avoid-symptomatic-metastases"),
        ({"primary": {"resectable": False}}, "cn.requires-resectable-primary"),
    ],
)
def test_kcrnc_reasons_against_cn(kb: KnowledgeBase, changes: dict[str, Any], rule: str) -> None:
    # Each KCRNC "do not offer" criterion overrides the seed criteria in favour.
    changes = dict(changes)
    primary = {"renal_share_of_burden": "high", "bleeding": True, **changes.pop("primary", {})}
    decision = decide(kb, "favorable", primary=primary, **changes)
    assert decision.recommendation == "not-recommended"
    assert rule in rules(decision)


def test_treated_brain_metastases_do_not_forbid_cn(kb: KnowledgeBase) -> None:
    decision = decide(
        kb,
        "favorable",
        primary={"renal_share_of_burden": "high"},
        disease={"metastases": [{"site": "brain", "lesions": 1, "treated": True}]},
    )
    assert "cn.avoid-active-brain-metastases" not in rules(decision)


def test_response_to_systemic_therapy_favours_deferred_cn(kb: KnowledgeBase) -> None:
    # KCRNC / SURTIME: deferred CN after a complete or meaningful partial response.
    decision = decide(
        kb,
        "intermediate",
        prior_therapies=[
            {
                "agents": ["pembrolizumab", "axitinib"],
                "start": "2026-01-05",
                "best_response": "partial-response",
            }
        ],
    )
    assert decision.recommendation == "consider-deferred"
    assert rules(decision) == {"cn.deferred-after-response"}


def test_undetermined_risk_with_poor_possible_is_deferred(kb: KnowledgeBase) -> None:
    decision = decide(kb, "intermediate", "poor", primary={"renal_share_of_burden": "high"})
    assert decision.recommendation == "consider-deferred"
    assert "cn.risk-undetermined" in rules(decision)
    assert "IMDC risk group" in decision.unknowns


def test_intermediate_with_asymptomatic_primary_is_deferred(kb: KnowledgeBase) -> None:
    # EAU 2019: no immediate CN in intermediate risk with an asymptomatic primary.
    decision = decide(kb, "intermediate", primary={"renal_share_of_burden": "high"})
    assert decision.recommendation == "consider-deferred"
    assert "cn.no-immediate-cn-intermediate" in rules(decision)


@pytest.mark.parametrize("symptom", ["bleeding", "pain"])
def test_intermediate_with_symptomatic_primary_may_be_upfront(
    kb: KnowledgeBase, symptom: str
) -> None:
    decision = decide(kb, "intermediate", primary={symptom: True})
    assert decision.recommendation == "consider-upfront"
    assert "cn.symptomatic-primary" in rules(decision)


@pytest.mark.parametrize(
    ("primary", "rule"),
    [
        ({"renal_share_of_burden": "high"}, "cn.high-renal-burden"),
        ({"paraneoplastic_syndrome": True}, "cn.paraneoplastic"),
        ({}, "cn.excellent-performance"),  # KPS 90 and a normal contralateral kidney
    ],
)
def test_favorable_with_a_seed_criterion_is_upfront(
    kb: KnowledgeBase, primary: dict[str, Any], rule: str
) -> None:
    decision = decide(kb, "favorable", primary=primary)
    assert decision.recommendation == "consider-upfront"
    assert rule in rules(decision)


def test_upfront_with_unknown_resectability_says_it_is_needed(kb: KnowledgeBase) -> None:
    decision = decide(
        kb, "favorable", primary={"renal_share_of_burden": "high", "resectable": None}
    )
    assert decision.recommendation == "consider-upfront"
    assert "cn.requires-resectable-primary" in rules(decision)
    assert "resectability of the primary" in decision.unknowns


def test_favorable_without_any_criterion_is_deferred_by_default(kb: KnowledgeBase) -> None:
    primary = {"contralateral_kidney_normal": False, "renal_share_of_burden": "balanced"}
    decision = decide(kb, "favorable", primary=primary)
    assert decision.recommendation == "consider-deferred"
    assert rules(decision) == {"cn.deferred-default"}


@pytest.mark.parametrize(
    ("primary", "named"),
    [
        ({"contralateral_kidney_normal": False}, "share of tumour burden in the kidney"),
        (
            {"renal_share_of_burden": "balanced", "contralateral_kidney_normal": None},
            "contralateral kidney function",
        ),
        (
            {
                "renal_share_of_burden": "balanced",
                "contralateral_kidney_normal": False,
                "bleeding": None,
            },
            "symptoms from the primary (bleeding, pain)",
        ),
    ],
)
def test_an_unknown_favouring_criterion_reads_uncertain_not_deferred(
    kb: KnowledgeBase, primary: dict[str, Any], named: str
) -> None:
    # Unknown is not "none met": a high renal share, a symptomatic primary or good
    # performance with a normal contralateral kidney would favour upfront CN (KCRNC 2019).
    decision = decide(kb, "favorable", primary=primary)
    assert decision.recommendation == "uncertain"
    assert rules(decision) == {"cn.criteria-unknown"}
    assert named in decision.reasons[0].text


def test_unknowns_are_listed(kb: KnowledgeBase) -> None:
    decision = cytoreductive_nephrectomy.decide(make_case(), risk_result("favorable"), kb)
    assert "primary tumour in place or removed" in decision.unknowns
    assert "brain imaging" in decision.unknowns


def test_upfront_cn_is_not_advised_while_intermediate_risk_is_possible(kb: KnowledgeBase) -> None:
    decision = decide(kb, "favorable", "intermediate", primary={"renal_share_of_burden": "high"})
    assert decision.recommendation != "consider-upfront"


def test_through_assess(run: Callable[..., Assessment]) -> None:
    # Diagnosed two months ago: synchronous disease, intermediate risk (time factor only).
    case = make_case(
        diagnosis={"date": "2026-09-01"},
        primary_tumour={**PRIMARY, "renal_share_of_burden": "high"},
        disease=DISEASE,
    )
    result = run(case)
    assert result.imdc.risk_group == "intermediate"
    assert result.cytoreductive_nephrectomy.recommendation == "consider-deferred"


def test_no_cn_with_spinal_cord_compression(kb: KnowledgeBase) -> None:
    # An emergency from metastases is a significant symptom of metastatic disease (KCRNC).
    decision = cytoreductive_nephrectomy.decide(
        make_case(
            primary_tumour={"in_place": True, "resectable": True, "renal_share_of_burden": "high"},
            disease={"spinal_cord_compression": True},
        ),
        risk_result("favorable"),
        kb,
    )
    assert decision.recommendation == "not-recommended"
    assert "cn.avoid-symptomatic-metastases" in {r.rule for r in decision.reasons}


#: No criterion favouring upfront CN is met (KCRNC 2019): balanced burden, abnormal
#: contralateral kidney, asymptomatic primary.
NO_CRITERION: dict[str, Any] = {
    "contralateral_kidney_normal": False,
    "renal_share_of_burden": "balanced",
}


@pytest.mark.parametrize(
    "primary",
    [
        {**NO_CRITERION, "paraneoplastic_syndrome": None},
        {**NO_CRITERION, "paraneoplastic_syndrome": None, "renal_share_of_burden": None},
        {**NO_CRITERION, "paraneoplastic_syndrome": None, "bleeding": None, "pain": None},
    ],
)
def test_every_criterion_an_uncertain_answer_names_is_in_its_unknowns(
    kb: KnowledgeBase, primary: dict[str, Any]
) -> None:
    # The "would be settled by" list and the decision's unknowns must agree: a reader of
    # the unknowns (cards, cohort rows) otherwise misses what to record.
    decision = decide(kb, "favorable", primary=primary)
    assert decision.recommendation == "uncertain"
    settled_by = decision.reasons[0].text.split("would be settled by", 1)[1]
    named = [item for item in decision.unknowns if item in settled_by]
    assert "paraneoplastic syndrome" in decision.unknowns
    assert "paraneoplastic syndrome" in named
