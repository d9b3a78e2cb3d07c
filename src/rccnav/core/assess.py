"""``assess()``: the one pure entry point. Case in, Assessment out; no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from rccnav.core.assessment import (
    Assessment,
    GuidelineViewName,
    KnowledgeBaseRef,
    RiskResult,
    SystemicTherapy,
    Warning,
)
from rccnav.core.case import Case
from rccnav.core.decisions import (
    active_surveillance,
    before_treating,
    clinical_trial,
    cytoreductive_nephrectomy,
    genetics,
    hypercalcaemia,
    local_therapy,
    metastasectomy,
    no_evidence_of_disease,
    therapy_safety,
    treatment,
)
from rccnav.core.decisions.lines import Line, current_line
from rccnav.core.decisions.safety_facts import Facts
from rccnav.core.prognosis import scores
from rccnav.core.prognosis.factors import FirstLine
from rccnav.knowledge.model import KnowledgeBase


def assess(
    case: Case,
    kb: KnowledgeBase,
    on: date,
    *,
    lookback_days: int | None = None,
    guideline: GuidelineViewName = "all",
) -> Assessment:
    """Assess ``case`` as of ``on`` with knowledge base ``kb``.

    ``lookback_days`` bounds how old a lab result may be (default: the
    knowledge base's ``prognosis.lab-lookback`` rule). ``guideline`` picks whose listing
    the systemic-therapy options follow: ``"all"`` (NCCN, EAU and ESMO merged) or one of
    ``"nccn"``, ``"eau"``, ``"esmo"``; every option keeps all three positions either way.
    """
    window = (
        lookback_days
        if lookback_days is not None
        else int(kb.param("prognosis.lab-lookback", "days"))
    )
    # Memoised by the exact record parts it reads (prognosis/scores.py).
    baseline, baseline_key = scores.baseline(case, kb, on, window)
    if baseline.performance is None and case.performance is not None:
        # Decisions see performance status only as usable on ``on``.
        case = case.model_copy(update={"performance": None})
    case, ned_warnings = no_evidence_of_disease.without_stale_ned(case, kb)
    facts = Facts(case, kb)  # after the last change to ``case`` above
    line = current_line(case, kb, on)
    imdc, mskcc = scores.scores(
        case, baseline, baseline_key, kb, on, line.number, _first_line(line, on)
    )
    resection = metastasectomy.decide(case, kb, on)
    if no_evidence_of_disease.applies(case, line):
        # M1 NED: adjuvant or surveillance, not the regimens for measurable disease.
        surveillance = no_evidence_of_disease.surveillance(kb)
        therapy = replace(
            no_evidence_of_disease.systemic_therapy(line, resection.adjuvant_pembrolizumab, kb),
            guideline_view=guideline,
        )
        safety_warnings: tuple[Warning, ...] = tuple(
            therapy_safety.check(case, line, therapy, kb, facts)
        )
    else:
        surveillance = active_surveillance.decide(case, imdc, line, kb)
        # Options (after every exclusion, demotion and promotion) and safety warnings,
        # memoised by everything they read.
        therapy, safety_warnings = treatment.decide(
            case, imdc, line, surveillance, kb, guideline, facts
        )
    imdc = _with_regimen_impact(imdc, therapy)
    calcium = hypercalcaemia.assess(case, baseline, kb)  # once, for measures and warnings
    local = local_therapy.decide(
        case,
        baseline,
        kb,
        line.current.agents if line.current else None,
        first_line_started=line.first is not None,
        calcium=calcium,
    )
    warnings: list[Warning] = [
        *baseline.warnings,
        *ned_warnings,
        *line.warnings,
        *safety_warnings,
    ]
    warnings.extend(local_therapy.urgent_warnings(case, kb, baseline, calcium))
    return Assessment(
        on=on,
        case_id=case.case_id,
        knowledge_base=KnowledgeBaseRef(
            kb.version, kb.checksum, kb.guideline_positions.version or None
        ),
        imdc=imdc,
        mskcc=mskcc,
        systemic_therapy=therapy,
        cytoreductive_nephrectomy=cytoreductive_nephrectomy.decide(case, imdc, kb, mskcc),
        metastasectomy=resection,
        local_therapy=local,
        active_surveillance=surveillance,
        clinical_trial=clinical_trial.decide(case, therapy, kb),
        genetics=genetics.decide(case, kb),
        warnings=tuple(warnings),
        ignored_data=(*baseline.ignored, *line.ignored),
        before_treating=before_treating.decide(therapy, local, kb),
    )


def _first_line(line: Line, on: date) -> FirstLine | None:
    if line.first is None:
        return None
    return FirstLine(line.first.agents, line.first.start, line.first_latest_start or on)


def _with_regimen_impact(imdc: RiskResult, therapy: SystemicTherapy) -> RiskResult:
    """Mark the unknown IMDC factors whose value could change the regimens listed."""
    if not imdc.missing or not therapy.depends_on_unknown_risk:
        return imdc
    missing = tuple(
        replace(item, could_change_regimens=item.could_change_group) for item in imdc.missing
    )
    return replace(imdc, missing=missing)
