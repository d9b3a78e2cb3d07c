"""Metastasectomy / complete local therapy (§8.1) and adjuvant pembrolizumab (§8.2)."""

from __future__ import annotations

from typing import Any

import pytest

from rccnav.core.assessment import Decision, Metastasectomy
from rccnav.core.decisions import metastasectomy
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case

#: One resectable lung lesion, primary removed 2 years before metastasis.
LIMITED: dict[str, Any] = {
    "metastases": [{"site": "lung", "lesions": 1, "resectable": True}],
    "rapidly_progressing": False,
}
REMOVED = {"in_place": False, "nephrectomy_date": "2024-06-01"}


def decide(kb: KnowledgeBase, disease: dict[str, Any] | None = None, **case: Any) -> Metastasectomy:
    built = make_case(
        disease={**LIMITED, **(disease or {})},
        primary_tumour=case.pop("primary_tumour", REMOVED),
        **case,
    )
    return metastasectomy.decide(built, kb, ON)


def rules(decision: Metastasectomy | Decision) -> list[str | None]:
    return [r.rule for r in decision.reasons]


def test_limited_resectable_disease_is_considered(kb: KnowledgeBase) -> None:
    result = decide(kb)
    assert result.recommendation == "consider"
    assert rules(result)[0] == "metastasectomy.consider"
    assert "metastasectomy.single-organ" in rules(result)
    assert result.unknowns == ()


def test_long_disease_free_interval_is_a_favourable_factor(kb: KnowledgeBase) -> None:
    # Nephrectomy 2024-06-01, metastasis 2026-09-01: 27 months > 12 (Kavolius 1998).
    result = decide(kb)
    dfi = [r for r in result.reasons if r.rule == "metastasectomy.disease-free-interval"]
    assert dfi and dfi[0].text == kb.rule("metastasectomy.disease-free-interval").statement


def test_short_disease_free_interval_is_stated_as_less_favourable(kb: KnowledgeBase) -> None:
    result = decide(kb, primary_tumour={"in_place": False, "nephrectomy_date": "2026-03-01"})
    dfi = [r for r in result.reasons if r.rule == "metastasectomy.disease-free-interval"]
    assert result.recommendation == "consider"
    assert dfi and "not above 12 months" in dfi[0].text


@pytest.mark.parametrize(
    "metastases",
    [
        [{"site": "lung", "lesions": 4, "resectable": True}],  # more than 3 lesions
        [
            {"site": "lung", "lesions": 1, "resectable": True},
            {"site": "adrenal", "lesions": 1, "resectable": True},
            {"site": "pancreas", "lesions": 1, "resectable": True},
        ],  # more than 2 organ sites
    ],
)
def test_beyond_limited_disease_is_not_recommended(
    kb: KnowledgeBase, metastases: list[dict[str, Any]]
) -> None:
    result = decide(kb, {"metastases": metastases})
    assert result.recommendation == "not-recommended"
    assert "metastasectomy.limited-disease" in rules(result)


def test_three_lesions_in_two_organs_is_still_limited(kb: KnowledgeBase) -> None:
    metastases = [
        {"site": "lung", "lesions": 2, "resectable": True},
        {"site": "adrenal", "lesions": 1, "resectable": True},
    ]
    result = decide(kb, {"metastases": metastases})
    assert result.recommendation == "consider"
    assert "metastasectomy.single-organ" not in rules(result)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"performance": {"kps": 70}}, "metastasectomy.performance"),
        ({"disease": {"rapidly_progressing": True}}, "metastasectomy.rapid-progression"),
        (
            {"disease": {"metastases": [{"site": "lung", "lesions": 1, "resectable": False}]}},
            "metastasectomy.complete-resection",
        ),
        ({"disease": {"all_sites_treatable_locally": False}}, "metastasectomy.complete-resection"),
    ],
)
def test_reasons_against(kb: KnowledgeBase, changes: dict[str, Any], rule: str) -> None:
    changes = dict(changes)
    result = decide(kb, changes.pop("disease", None), **changes)
    assert result.recommendation == "not-recommended"
    assert rule in rules(result)


def test_clinician_judgement_that_all_sites_are_treatable_overrides_one_unresectable_site(
    kb: KnowledgeBase,
) -> None:
    # Unresectable but ablatable with radiotherapy: "resection plus radiotherapy" (§8.1).
    disease = {
        "metastases": [{"site": "lung", "lesions": 1, "resectable": False}],
        "all_sites_treatable_locally": True,
    }
    assert decide(kb, disease).recommendation == "consider"


@pytest.mark.parametrize(
    ("changes", "unknown"),
    [
        ({"disease": {"metastases": [{"site": "lung", "resectable": True}]}}, "number of lesions"),
        ({"disease": {"metastases": [{"site": "lung", "lesions": 1}]}}, "resected or ablated"),
        ({"performance": None}, "performance status"),
    ],
)
def test_missing_data_is_uncertain_never_consider_nor_not_recommended(
    kb: KnowledgeBase, changes: dict[str, Any], unknown: str
) -> None:
    # Issue 8: with FHIR input lesion counts are unknown; unknown must read "uncertain" with
    # what would settle it, never "not recommended" (knowing it could make it "consider").
    changes = dict(changes)
    result = decide(kb, changes.pop("disease", None), **changes)
    assert result.recommendation == "uncertain"
    assert rules(result) == ["metastasectomy.insufficient-data"]
    assert any(unknown in item for item in result.unknowns)
    assert unknown in result.reasons[0].text


def test_no_metastases_recorded_is_not_applicable(kb: KnowledgeBase) -> None:
    result = decide(kb, {"metastases": []})
    assert result.recommendation == "not-applicable"
    assert rules(result) == ["metastasectomy.no-metastases-recorded"]


# --- adjuvant pembrolizumab: KEYNOTE-564 M1 NED ----------------------------------------------

#: Clear cell, nephrectomy then complete resection of a lung metastasis 5 months later,
#: KPS 90, no systemic therapy, resected 3 weeks before ON.
NED: dict[str, Any] = {
    "metastases": [{"site": "lung", "lesions": 1, "resectable": True}],
    "no_evidence_of_disease": True,
    "complete_resection_date": "2026-10-12",
}
NED_PRIMARY = {"in_place": False, "nephrectomy_date": "2026-05-15"}


def adjuvant(kb: KnowledgeBase, disease: dict[str, Any] | None = None, **case: Any) -> Decision:
    case.setdefault("primary_tumour", NED_PRIMARY)
    result = decide(kb, {**NED, **(disease or {})}, **case)
    assert result.recommendation == "not-applicable"  # NED: nothing left to resect
    assert rules(result) == ["metastasectomy.already-ned"]
    return result.adjuvant_pembrolizumab


def test_m1_ned_meeting_keynote_564_is_eligible(kb: KnowledgeBase) -> None:
    decision = adjuvant(kb)
    assert decision.recommendation == "eligible"
    assert rules(decision) == ["adjuvant.pembrolizumab"]
    assert {"keynote-564", "keynote-564-os"} <= set(decision.reasons[0].sources)


def test_not_ned_is_not_applicable(kb: KnowledgeBase) -> None:
    decision = decide(kb).adjuvant_pembrolizumab
    assert decision.recommendation == "not-applicable"
    assert rules(decision) == ["adjuvant.requires-ned"]


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"diagnosis": {"histology": "papillary"}}, "adjuvant.clear-cell-only"),
        (
            {"disease": {"metastases": [{"site": "bone", "lesions": 1}]}},
            "adjuvant.soft-tissue-only",
        ),
        (
            {"disease": {"metastases": [{"site": "brain", "lesions": 1}]}},
            "adjuvant.soft-tissue-only",
        ),
        ({"performance": {"kps": 70}}, "adjuvant.performance"),
        ({"performance": {"kps": None, "ecog": 2}}, "adjuvant.performance"),
        (
            {
                "prior_therapies": [
                    {"agents": ["sunitinib"], "start": "2026-06-01", "end": "2026-09-01"}
                ]
            },
            "adjuvant.no-prior-systemic",
        ),
        (
            {"primary_tumour": {"in_place": False, "nephrectomy_date": "2025-10-11"}},
            "adjuvant.within-one-year",
        ),
    ],
)
def test_keynote_564_exclusions(kb: KnowledgeBase, changes: dict[str, Any], rule: str) -> None:
    changes = dict(changes)
    decision = adjuvant(kb, changes.pop("disease", None), **changes)
    assert decision.recommendation == "not-eligible"
    assert rule in rules(decision)


def test_resection_exactly_one_year_after_nephrectomy_is_within_the_window(
    kb: KnowledgeBase,
) -> None:
    # 2025-10-12 -> 2026-10-12 is 365 days: "within 1 year of nephrectomy".
    decision = adjuvant(kb, primary_tumour={"in_place": False, "nephrectomy_date": "2025-10-12"})
    assert decision.recommendation == "eligible"


@pytest.mark.parametrize(
    ("changes", "unknown"),
    [
        ({"diagnosis": {"histology": None}}, "histology"),
        ({"performance": None}, "performance status"),
        ({"primary_tumour": {"in_place": False}}, "dates of nephrectomy"),
    ],
)
def test_unknown_criteria_make_it_uncertain(
    kb: KnowledgeBase, changes: dict[str, Any], unknown: str
) -> None:
    decision = adjuvant(kb, **changes)
    assert decision.recommendation == "uncertain"
    assert any(unknown in item for item in decision.unknowns)


def test_prior_adjuvant_therapy_excludes_adjuvant_pembrolizumab(kb: KnowledgeBase) -> None:
    # Adjuvant pembrolizumab after the nephrectomy, relapse on it, metastasis resected: NED.
    decision = adjuvant(
        kb,
        prior_therapies=[
            {
                "agents": ["pembrolizumab"],
                "start": "2026-06-20",
                "end": "2026-09-01",
                "setting": "adjuvant",
                "stop_reason": "progression",
            }
        ],
    )
    assert decision.recommendation != "eligible"


def test_adjuvant_long_after_resection_is_not_eligible(kb: KnowledgeBase) -> None:
    decision = adjuvant(
        kb,
        {"complete_resection_date": "2023-09-01"},
        primary_tumour={"in_place": False, "nephrectomy_date": "2023-05-15"},
    )
    assert decision.recommendation != "eligible"
