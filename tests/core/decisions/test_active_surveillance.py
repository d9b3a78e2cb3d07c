"""Active surveillance for indolent, treatment-naive disease (Rini 2016; reference §10)."""

from __future__ import annotations

from typing import Any

import pytest

from rccnav.core.assessment import Decision, RiskGroupName
from rccnav.core.decisions import active_surveillance
from rccnav.core.decisions.lines import current_line
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case, risk_result

INDOLENT: dict[str, Any] = {
    "metastases": [{"site": "lung", "lesions": 3}],
    "metastases_recorded": True,
    "symptomatic_metastases": False,
    "rapidly_progressing": False,
}


def decide(
    kb: KnowledgeBase,
    *possible: RiskGroupName,
    present: int = 0,
    unknown: int = 0,
    disease: dict[str, Any] | None = None,
    **case: Any,
) -> Decision:
    built = make_case(disease={**INDOLENT, **(disease or {})}, **case)
    imdc = risk_result(*(possible or ("favorable",)), present=present, unknown=unknown)
    return active_surveillance.decide(built, imdc, current_line(built, kb, ON), kb)


def rules(decision: Decision) -> list[str | None]:
    return [r.rule for r in decision.reasons]


def test_indolent_low_volume_disease_may_be_watched(kb: KnowledgeBase) -> None:
    decision = decide(kb, "favorable")
    assert decision.recommendation == "consider"
    # Surveillance time counts towards the diagnosis-to-treatment interval: recompute IMDC.
    assert rules(decision) == ["surveillance.candidate", "surveillance.recompute-imdc"]


def test_one_imdc_factor_is_still_a_candidate(kb: KnowledgeBase) -> None:
    assert decide(kb, "intermediate", present=1).recommendation == "consider"


def test_two_imdc_factors_are_not(kb: KnowledgeBase) -> None:
    decision = decide(kb, "intermediate", present=2)
    assert decision.recommendation == "not-recommended"
    assert "surveillance.candidate" in rules(decision)


def test_unknown_factors_that_could_exceed_one_make_it_uncertain(kb: KnowledgeBase) -> None:
    decision = decide(kb, "favorable", "intermediate", present=1, unknown=1)
    assert decision.recommendation == "uncertain"
    assert "IMDC factors still unknown" in decision.unknowns


def test_after_systemic_therapy_it_does_not_apply(kb: KnowledgeBase) -> None:
    decision = decide(
        kb, prior_therapies=[{"agents": ["sunitinib"], "start": "2025-01-10", "end": "2026-08-01"}]
    )
    assert decision.recommendation == "not-applicable"
    assert rules(decision) == ["surveillance.treatment-naive-only"]


@pytest.mark.parametrize(
    ("disease", "rule"),
    [
        ({"symptomatic_metastases": True}, "surveillance.asymptomatic"),
        ({"spinal_cord_compression": True}, "surveillance.asymptomatic"),
        ({"rapidly_progressing": True}, "surveillance.indolent"),
        ({"metastases": [{"site": "liver", "lesions": 1}]}, "surveillance.no-liver-brain"),
        (
            {"metastases": [{"site": "brain", "lesions": 1, "treated": True}]},
            "surveillance.no-liver-brain",
        ),
        (
            {"metastases": [{"site": "lung"}, {"site": "bone"}, {"site": "adrenal"}]},
            "surveillance.candidate",  # more than 2 organ sites
        ),
    ],
)
def test_reasons_against_surveillance(
    kb: KnowledgeBase, disease: dict[str, Any], rule: str
) -> None:
    decision = decide(kb, disease=disease)
    assert decision.recommendation == "not-recommended"
    assert rule in rules(decision)


@pytest.mark.parametrize(
    ("disease", "unknown"),
    [
        ({"symptomatic_metastases": None}, "whether the disease is symptomatic"),
        ({"metastases": []}, "metastatic sites"),
    ],
)
def test_missing_information_makes_it_uncertain(
    kb: KnowledgeBase, disease: dict[str, Any], unknown: str
) -> None:
    decision = decide(kb, disease=disease)
    assert decision.recommendation == "uncertain"
    assert unknown in decision.unknowns


def test_on_first_line_therapy_it_does_not_apply(kb: KnowledgeBase) -> None:
    decision = decide(
        kb, "favorable", prior_therapies=[{"agents": ["axitinib"], "start": "2026-10-01"}]
    )
    assert decision.recommendation == "not-applicable"
    assert "Currently receiving axitinib" in decision.reasons[0].text


@pytest.mark.parametrize(
    ("adjuvant", "expected"),
    [
        # Recurrence (metastases 2026-09-01) within 6 months of the end, any drug class.
        ({"agents": ["pembrolizumab"], "end": "2026-05-01"}, "not-recommended"),
        ({"agents": ["sunitinib"], "end": "2026-05-01"}, "not-recommended"),
        # Recurrence 2 years after the end: the adjuvant therapy does not argue against it.
        ({"agents": ["sunitinib"], "end": "2024-09-01"}, "consider"),
        # End not recorded: timing unknown, so uncertain (never assumed late or early).
        ({"agents": ["pembrolizumab"], "end": None}, "uncertain"),
    ],
)
def test_relapse_after_adjuvant_therapy(
    kb: KnowledgeBase, adjuvant: dict[str, Any], expected: str
) -> None:
    therapy = {"setting": "adjuvant", "start": "2023-09-01", "stop_reason": "completed", **adjuvant}
    decision = decide(kb, "favorable", prior_therapies=[therapy])
    assert decision.recommendation == expected
    if expected == "not-recommended":
        assert "surveillance.adjuvant-relapse" in rules(decision)
    if expected == "uncertain":
        assert any("adjuvant" in u for u in decision.unknowns)


def test_sarcomatoid_features(kb: KnowledgeBase) -> None:
    sarcomatoid = decide(kb, "favorable", diagnosis={"sarcomatoid": True})
    assert sarcomatoid.recommendation == "not-recommended"
    assert "surveillance.sarcomatoid" in rules(sarcomatoid)
    unknown = decide(kb, "favorable", diagnosis={"sarcomatoid": None})
    assert unknown.recommendation == "uncertain"
    assert any("sarcomatoid" in u for u in unknown.unknowns)
