"""Safety guard on the proposed therapy and on the options recommended.

Flags ineffective therapy (chemotherapy in clear-cell disease, progestins),
experimental therapy, low-benefit cytokines, combinations no guideline lists,
regimens that do not fit the risk group or line, PD-1/PD-L1 rechallenge and
contraindications (reference §§4.5, 5.2, 11-13).
"""

from __future__ import annotations

from rccnav.core.assessment import SystemicTherapy, Warning
from rccnav.core.case import Case
from rccnav.core.decisions.common import resolve_agents
from rccnav.core.decisions.lines import Line
from rccnav.core.decisions.safety_facts import Facts, fact_source, rule_message
from rccnav.core.decisions.systemic_therapy import effective_histology
from rccnav.knowledge.model import (
    PD1_AXIS_CLASSES,
    AgentClass,
    Contraindication,
    KnowledgeBase,
)


def _resolve(case: Case, kb: KnowledgeBase) -> tuple[list[str], list[Warning]]:
    proposed = case.proposed_therapy
    if proposed is None:
        return [], []
    where = proposed.source or "proposed_therapy"
    agents, warnings = resolve_agents(
        kb, proposed.agents, where, "unrecognised-therapy", "rccnav cannot check it"
    )
    return sorted(set(agents)), warnings


def _category_warnings(
    case: Case, agents: list[str], kb: KnowledgeBase, where: str
) -> list[Warning]:
    histology = effective_histology(case)
    warnings: list[Warning] = []
    for category in kb.therapy_categories:
        hits = [
            a
            for a in agents
            if a in category.agents or kb.agents[a].agent_class in category.agent_classes
        ]
        if not hits:
            continue
        if histology is not None and histology.value in category.except_histologies:
            continue
        code = {
            "ineffective": "ineffective-therapy",
            "experimental": "experimental-therapy",
            "low-benefit": "low-benefit-therapy",
        }[category.kind]
        message = f"{', '.join(hits)}: {category.message}"
        if histology is None and category.except_histologies:
            message += (
                " Histology is unknown: this does not apply to "
                + ", ".join(category.except_histologies)
                + " carcinoma."
            )
        severity = "critical" if category.kind == "ineffective" else "warning"
        warnings.append(Warning(code, severity, message, where, category.id, category.sources))  # type: ignore[arg-type]
    return warnings


def _regimen_warnings(
    agents: list[str],
    therapy: SystemicTherapy,
    kb: KnowledgeBase,
    where: str,
    adjuvant_fit: bool,
) -> list[Warning]:
    regimen_id = "+".join(agents)
    warnings: list[Warning] = []
    for combo in kb.nonstandard_combinations:
        if set(combo.agents) == set(agents):
            meant = ", ".join(kb.regimens[r].name for r in combo.likely_meant)
            warnings.append(
                Warning(
                    "nonstandard-regimen",
                    "critical",
                    f"{combo.message} Did you mean: {meant}?",
                    where,
                    combo.id,
                    combo.sources,
                )
            )
            return warnings
    listed = {*therapy.preferred, *therapy.other, *therapy.certain_circumstances}
    if len(agents) == 1 and regimen_id not in kb.regimens and not _category_only(agents, kb):
        if kb.agents[agents[0]].agent_class is AgentClass.BONE_TARGETED:
            return warnings  # supportive care, not an anticancer regimen
        rule = kb.rule("safety.single-agent-not-a-regimen")
        warnings.append(
            Warning(
                "nonstandard-regimen",
                "warning",
                f"{agents[0]} alone is not a guideline regimen for RCC. {rule.statement}",
                where,
                rule.id,
                rule.sources,
            )
        )
        return warnings
    if len(agents) > 1 and regimen_id not in kb.regimens:
        rule = kb.rule("safety.unlisted-combination")
        warnings.append(
            Warning(
                "nonstandard-regimen",
                "critical",
                f"{' + '.join(agents)} is not a regimen in any guideline rccnav knows. "
                + rule.statement,
                where,
                rule.id,
                rule.sources,
            )
        )
        return warnings
    disputed = next(
        (o for o in therapy.options if o.regimen == regimen_id and o.guideline_disagreement),
        None,
    )
    if disputed is not None and any(
        p.listing == "not-recommended" for p in disputed.guideline_positions
    ):
        # Shown with the disagreement (never dropped), but the proposal should say so.
        rule = kb.rule("therapy.guideline-only-option")
        warnings.append(
            Warning(
                "guideline-disagreement",
                "warning",
                f"{disputed.name}: {disputed.guideline_disagreement}",
                where,
                rule.id,
                tuple(dict.fromkeys(s for p in disputed.guideline_positions for s in p.sources)),
            )
        )
    if regimen_id in kb.regimens and regimen_id not in listed and not adjuvant_fit:
        excluded = {e.regimen: e.reason for e in therapy.excluded}
        if regimen_id in excluded:
            reason = excluded[regimen_id]
            is_rechallenge = reason.rule == "therapy.no-pd1-rechallenge"
            code = "ici-rechallenge" if is_rechallenge else "regimen-not-recommended"
            warnings.append(
                Warning(
                    code,
                    "warning",
                    f"{kb.regimens[regimen_id].name} is not recommended here: {reason.text}",
                    where,
                    reason.rule,
                    reason.sources,
                )
            )
        elif not _category_only(agents, kb):
            rule = kb.rule("safety.regimen-not-listed-for-setting")
            warnings.append(
                Warning(
                    "regimen-not-recommended",
                    "warning",
                    f"{kb.regimens[regimen_id].name} is not listed for {therapy.setting}"
                    f" with this histology and risk group. {rule.statement}",
                    where,
                    rule.id,
                    rule.sources,
                )
            )
    return warnings


def _category_only(agents: list[str], kb: KnowledgeBase) -> bool:
    """True when the category warnings already cover every agent."""
    return all(
        any(
            a in c.agents or kb.agents[a].agent_class in c.agent_classes
            for c in kb.therapy_categories
        )
        for a in agents
    )


def _affects(rule: Contraindication, agent: str, kb: KnowledgeBase) -> bool:
    return agent in rule.agents or kb.agents[agent].agent_class in rule.agent_classes


def _contraindication_warnings(
    case: Case, agents: list[str], therapy: SystemicTherapy, kb: KnowledgeBase, facts: Facts
) -> list[Warning]:
    warnings: list[Warning] = []
    recommended = [o.regimen for o in therapy.options]
    for rule in kb.contraindications:
        if facts[rule.comorbidity] is not True:
            continue

        in_proposal = [a for a in agents if _affects(rule, a, kb)]
        in_options = [
            r
            for r in (*recommended, *(e.regimen for e in therapy.excluded))
            if r in kb.regimens and any(_affects(rule, a, kb) for a in kb.regimens[r].agents)
        ]
        if not in_proposal and not in_options:
            continue
        where = fact_source(case, rule.comorbidity)
        subject = (
            f"proposed {', '.join(in_proposal)}"
            if in_proposal
            else "checkpoint-inhibitor regimens"
            if rule.warning_code == "ici-contraindication"
            else "listed regimens"
        )
        severity = "critical" if rule.severity == "absolute" or in_proposal else "warning"
        warnings.append(
            Warning(
                rule.warning_code,
                severity,  # type: ignore[arg-type]
                f"{rule_message(case, rule.comorbidity, rule.message, kb)} Affects {subject}.",
                where,
                rule.id,
                rule.sources,
            )
        )
    return warnings


def check(
    case: Case,
    line: Line,
    therapy: SystemicTherapy,
    kb: KnowledgeBase,
    facts: Facts | None = None,
) -> list[Warning]:
    """``facts``: the patient's safety facts, when the caller has them already."""
    agents, warnings = _resolve(case, kb)
    where = (case.proposed_therapy.source if case.proposed_therapy else None) or "proposed_therapy"
    if agents:
        warnings.extend(_category_warnings(case, agents, kb, where))
        # Pembrolizumab alone after complete resection is the KEYNOTE-564 adjuvant regimen.
        adjuvant_fit = agents == ["pembrolizumab"] and case.disease.no_evidence_of_disease is True
        warnings.extend(_regimen_warnings(agents, therapy, kb, where, adjuvant_fit))
        if (
            line.progressed_on_pd1_axis
            and any(kb.agents[a].agent_class in PD1_AXIS_CLASSES for a in agents)
            and not any(w.code == "ici-rechallenge" for w in warnings)
        ):
            rule = kb.rule("therapy.no-pd1-rechallenge")
            warnings.append(
                Warning("ici-rechallenge", "warning", rule.statement, where, rule.id, rule.sources)
            )
    facts = Facts(case, kb) if facts is None else facts
    warnings.extend(_contraindication_warnings(case, agents, therapy, kb, facts))
    return warnings
