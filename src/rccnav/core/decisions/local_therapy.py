"""Radiotherapy, embolization, palliative nephrectomy, bone-targeted agents; emergencies."""

from __future__ import annotations

from rccnav.core.assessment import LocalMeasure, Severity, Warning
from rccnav.core.baseline import Baseline
from rccnav.core.case import Case, Site
from rccnav.core.decisions.common import (
    because,
    brain_metastases,
    good_performance,
    primary_symptomatic,
    total_lesions,
)
from rccnav.knowledge.model import KnowledgeBase


def _measure(kb: KnowledgeBase, rule_id: str, title: str, urgency: str) -> LocalMeasure:
    return LocalMeasure(rule_id, title, urgency, (because(kb, rule_id),))  # type: ignore[arg-type]


def decide(case: Case, baseline: Baseline, kb: KnowledgeBase) -> tuple[LocalMeasure, ...]:
    measures: list[LocalMeasure] = []
    d = case.disease
    if d.spinal_cord_compression:
        measures.append(
            _measure(
                kb, "local.cord-compression", "Spinal cord compression: emergency", "emergency"
            )
        )
    present, untreated = brain_metastases(case)
    if present and untreated:
        measures.append(
            _measure(
                kb, "local.brain-metastases", "Brain metastases: local therapy first", "urgent"
            )
        )
    elif present is None:
        measures.append(
            _measure(
                kb, "local.brain-imaging", "Brain imaging before systemic therapy or CN", "routine"
            )
        )
    bone = [m for m in d.metastases if m.site is Site.BONE]
    if any(m.painful for m in bone):
        measures.append(
            _measure(
                kb,
                "local.painful-bone-radiotherapy",
                "Radiotherapy for painful bone metastases",
                "routine",
            )
        )
    if bone:
        measures.append(_bone_agents(baseline, kb))
    lesions = total_lesions(case)
    if lesions is not None and 0 < lesions <= kb.param("local.oligometastatic-sbrt", "max_lesions"):
        measures.append(
            _measure(
                kb,
                "local.oligometastatic-sbrt",
                "SBRT to all sites of oligometastatic disease",
                "routine",
            )
        )
    if d.oligoprogression:
        measures.append(
            _measure(
                kb, "local.oligoprogression-sbrt", "SBRT to oligoprogressive lesions", "routine"
            )
        )
    p = case.primary_tumour
    if not p.removed and primary_symptomatic(case):
        fit = good_performance(case)
        if fit and p.resectable is not False:
            measures.append(
                _measure(
                    kb,
                    "local.palliative-nephrectomy",
                    "Palliative nephrectomy for symptoms from the primary",
                    "routine",
                )
            )
        measures.append(
            _measure(
                kb,
                "local.embolization",
                "Embolization (or radiotherapy) of the primary for bleeding or pain",
                "routine",
            )
        )
    return tuple(measures)


def _bone_agents(baseline: Baseline, kb: KnowledgeBase) -> LocalMeasure:
    measure = _measure(
        kb,
        "local.bone-targeted-agents",
        "Bone-targeted agent (zoledronic acid or denosumab)",
        "routine",
    )
    egfr = baseline.labs.get("egfr")  # dated, windowed, in mL/min
    limit = kb.param("local.zoledronic-renal", "min_crcl_ml_min")
    if egfr is not None and egfr.value < limit:
        return LocalMeasure(
            measure.id,
            measure.title,
            measure.urgency,
            (*measure.reasons, because(kb, "local.zoledronic-renal")),
        )
    return measure


def urgent_warnings(case: Case, kb: KnowledgeBase) -> list[Warning]:
    warnings: list[Warning] = []
    if case.disease.spinal_cord_compression:
        rule = kb.rule("local.cord-compression")
        warnings.append(
            Warning(
                "spinal-cord-compression",
                "critical",
                rule.statement,
                "disease.spinal_cord_compression",
                rule.id,
                rule.sources,
            )
        )
    present, untreated = brain_metastases(case)
    if present:
        rule = kb.rule("local.brain-metastases")
        source = next(
            (m.source for m in case.disease.metastases if m.site is Site.BRAIN and m.source),
            "disease.metastases",
        )
        severity: Severity = "critical" if untreated else "info"
        message = (
            rule.statement
            if untreated
            else "Brain metastases treated locally; confirm control before systemic therapy."
        )
        warnings.append(
            Warning("brain-metastases", severity, message, source, rule.id, rule.sources)
        )
    return warnings
