"""Small helpers shared by decision modules: citing rules, reading the Case."""

from __future__ import annotations

from rccnav.core.assessment import Reason, Warning
from rccnav.core.case import Case, Site
from rccnav.core.memo import Memo
from rccnav.knowledge.model import KnowledgeBase

_REASONS: Memo[tuple[str, str], Reason] = Memo("rule reasons", "knowledge", 4096)


def because(kb: KnowledgeBase, rule_id: str, text: str | None = None) -> Reason:
    """A reason citing a knowledge-base rule; the rule's statement unless ``text`` is given."""
    if text is None:
        key = (kb.checksum, rule_id)
        cached = _REASONS.get(key)
        if cached is None:
            rule = kb.rule(rule_id)
            cached = _REASONS.put(
                key, Reason(rule.statement, rule.id, rule.sources, rule.status.value)
            )
        return cached
    rule = kb.rule(rule_id)
    return Reason(text, rule.id, rule.sources, rule.status.value)


def good_performance(case: Case) -> bool | None:
    """ECOG 0-1 / KPS >= 80, the threshold of the CN trials and KCRNC [18, 69]."""
    ps = case.performance
    if ps is None:
        return None
    if ps.kps is not None:
        return ps.kps >= 80
    if ps.ecog is not None:
        return ps.ecog <= 1
    return None


def organ_sites(case: Case) -> set[Site]:
    return {m.site for m in case.disease.metastases}


def total_lesions(case: Case) -> int | None:
    """Sum of lesion counts; unknown if any site lacks a count."""
    counts = [m.lesions for m in case.disease.metastases]
    if not counts or any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


_LAST_BRAIN: tuple[object, tuple[bool | None, bool | None]] = (None, (None, None))


def brain_metastases(case: Case) -> tuple[bool | None, bool | None]:
    """(present, untreated) for brain metastases; None where not recorded."""
    # Seven decisions ask this of one assessment: the last answer is kept with the (frozen)
    # record it is about, and replaced as one tuple so threads never mix two records.
    global _LAST_BRAIN
    disease, answer = _LAST_BRAIN
    if disease is case.disease:
        return answer
    answer = _brain_metastases(case)
    _LAST_BRAIN = (case.disease, answer)
    return answer


def _brain_metastases(case: Case) -> tuple[bool | None, bool | None]:
    brain = [m for m in case.disease.metastases if m.site is Site.BRAIN]
    if not brain:
        return (False if case.disease.metastases_recorded else None), None
    untreated = any(m.treated is not True for m in brain)
    return True, untreated


def primary_symptomatic(case: Case) -> bool | None:
    p = case.primary_tumour
    if p.bleeding or p.pain:
        return True
    if p.bleeding is False and p.pain is False:
        return False
    return None


def resolve_agents(
    kb: KnowledgeBase, names: tuple[str, ...], where: str, code: str, consequence: str
) -> tuple[list[str], list[Warning]]:
    """Knowledge-base agent ids for recorded names; a warning for each name not known."""
    agents: list[str] = []
    warnings: list[Warning] = []
    for name in names:
        agent_id = kb.resolve_agent(name)
        if agent_id is None:
            message = f"agent {name!r} is not in the knowledge base: {consequence}"
            warnings.append(Warning(code, "warning", message, source=where))
        else:
            agents.append(agent_id)
    return agents, warnings
