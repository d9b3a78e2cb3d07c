"""Issue 8 item 7: each knowledge-base correction, checked in the data against its source.

The clinical vignettes (cases/i8-k-*.yaml, docs/vignettes.md) show each correction in an
answer; these tests pin the corrected knowledge-base item itself, so a later edit that
reverts one fails here with the source it contradicts.
"""

from __future__ import annotations

import pytest

from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import AgentClass, KnowledgeBase


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


def test_male_haemoglobin_fallback_is_the_who_to_laboratory_interval(kb: KnowledgeBase) -> None:
    """WHO 2011: anaemia below 13.0 g/dL in men; laboratories commonly use 13.5. A fallback
    never decides a value between them (clinical-reference 3.2)."""
    limits = [d for d in kb.default_limits if d.analyte == "hemoglobin" and d.sex == "male"]
    assert len(limits) == 1
    male = limits[0]
    assert (male.low, male.high) == (13.0, 13.5)
    assert "who-anaemia-2011" in male.sources


def test_fallback_limits_cite_sources_that_give_ranges(kb: KnowledgeBase) -> None:
    """The fallback limits cited a source with no ranges; they now cite WHO 2011 and the
    reference-range tables (Davidson's; Kratz 2004), each listed in sources.yaml."""
    for limit in kb.default_limits:
        assert limit.sources, limit
        assert set(limit.sources) <= set(kb.sources), limit
        assert set(limit.sources) & {"who-anaemia-2011", "lab-reference-ranges"}, limit
    citation = kb.sources["lab-reference-ranges"].citation
    assert "Davidson" in citation and "Kratz" in citation


def test_sbrt_local_control_is_attributed_to_the_utsw_series(kb: KnowledgeBase) -> None:
    """2-year local control 91.5% is the UTSW series (Zhang 2019), not the MD Anderson
    phase 2 (Tang 2021) (clinical-reference 9.1 [78])."""
    rule = kb.rule("local.oligometastatic-sbrt")
    statement = rule.statement
    assert "91.5%" in statement
    before = statement[: statement.index("91.5%")]
    assert before.rfind("Zhang 2019") > before.rfind("Tang"), statement
    assert "zhang-2019-sabr" in rule.sources
    assert "Zhang" in kb.sources["zhang-2019-sabr"].citation


def test_sarcomatoid_rule_cites_the_trial_evidence(kb: KnowledgeBase) -> None:
    """The rule cited a chemotherapy commentary (ECOG 8802); its evidence is Tannir 2021
    (CheckMate 214 sarcomatoid subgroup) and the combination trials."""
    rule = kb.rule("therapy.sarcomatoid-favours-ici")
    assert "sarcomatoid-commentary" not in rule.sources
    assert {"checkmate-214-sarcomatoid", "keynote-426", "clear", "checkmate-9er"} <= set(
        rule.sources
    )
    assert "Tannir" in kb.sources["checkmate-214-sarcomatoid"].citation


@pytest.mark.parametrize(
    ("rule_id", "agents"),
    [
        # GI perforation / fistula label warnings (clinical-reference 13.2; labels).
        ("tki.perforation", {"axitinib", "pazopanib", "cabozantinib", "lenvatinib", "bevacizumab"}),
        # Hepatic impairment: boxed warnings (pazopanib, sunitinib) and label dose changes.
        ("tki.hepatic", {"pazopanib", "sunitinib", "cabozantinib", "axitinib", "lenvatinib"}),
    ],
)
def test_label_agent_lists_are_complete_and_cite_each_label(
    kb: KnowledgeBase, rule_id: str, agents: set[str]
) -> None:
    rule = next(c for c in kb.contraindications if c.id == rule_id)
    assert agents <= set(rule.agents), sorted(agents - set(rule.agents))
    for agent in agents:
        assert f"fda-label-{agent}" in rule.sources, agent
        assert f"fda-label-{agent}" in kb.sources, agent
        assert agent in rule.message


def test_pregnancy_rule_includes_the_cytokines(kb: KnowledgeBase) -> None:
    rule = next(c for c in kb.contraindications if c.id == "pregnancy.all-systemic")
    assert AgentClass("cytokine") in rule.agent_classes
    assert {"fda-label-interferon-alfa-2b", "fda-label-aldesleukin"} <= set(rule.sources)
    assert "aldesleukin" in kb.regimens_affected_by(rule)


@pytest.mark.parametrize(
    "rule_id",
    [
        "ici.steroids",
        "ici.other-immunosuppressants",
        "ici.pneumonitis",
        "ici.chronic-infection",
        "ici.infection",
        "ici.autoimmune",
    ],
)
def test_trial_exclusions_cite_the_trials_not_the_labels(kb: KnowledgeBase, rule_id: str) -> None:
    """Steroids, immunosuppressants, infection, pneumonitis and autoimmune disease were
    exclusions of CheckMate 214 and KEYNOTE-426, not label contraindications."""
    rule = next(c for c in kb.contraindications if c.id == rule_id)
    assert {"checkmate-214", "keynote-426"} <= set(rule.sources)
    assert "fda-labels" not in rule.sources
    assert "exclusion" in rule.message


def test_hd_il2_fitness_names_every_criterion(kb: KnowledgeBase) -> None:
    """Age (stress test), renal function, myocarditis (cardiac function and barring irAE),
    pregnancy and prior checkpoint-inhibitor toxicity (Fyfe 1995; label; clinical-reference
    11.2)."""
    rule = kb.rule("therapy.aldesleukin-fitness")
    statement = rule.statement.lower()
    for words in (
        "stress testing",
        "creatinine",
        "cardiac function",
        "pregnant",
        "checkpoint-inhibitor toxicity",
        "brain metastases",
        "autoimmune",
    ):
        assert words in statement, words
    assert kb.param(rule.id, "max_creatinine_mg_dl") == 1.5
    assert kb.param(rule.id, "stress_test_from_age_years") == 50
    irae = next(c for c in kb.contraindications if c.id == "ici.prior-severe-irae")
    assert "aldesleukin" in irae.agents and "myocarditis" in irae.message


def test_cn_in_poor_risk_is_framed_on_mskcc(kb: KnowledgeBase) -> None:
    """EAU 2019 (strong): no CN in MSKCC poor risk, the model CARMENA used [106]."""
    rule = kb.rule("cn.avoid-poor-risk")
    assert "MSKCC" in rule.statement
    assert {"eau-2019-changes", "carmena"} <= set(rule.sources)
    assert not any("seed" in r.statement.lower() for r in kb.rules.values())
