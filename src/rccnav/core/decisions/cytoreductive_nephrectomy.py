"""Is cytoreductive nephrectomy (CN) worth considering, now or deferred?

Four criteria favour CN (KCRNC 2019, PDQ); the reference adds the cautions that
override them (EAU 2019 after CARMENA/SURTIME [106], KCRNC 2019 [69]).
"""

from __future__ import annotations

from rccnav.core.assessment import Decision, Reason, RiskResult
from rccnav.core.case import Case, RenalShare, Response
from rccnav.core.decisions.common import (
    because,
    brain_metastases,
    good_performance,
    primary_symptomatic,
)
from rccnav.knowledge.model import KnowledgeBase


def _against(
    case: Case, imdc: RiskResult, kb: KnowledgeBase, mskcc: RiskResult | None
) -> list[Reason]:
    reasons: list[Reason] = []
    poor = [
        name
        for name, result in (("IMDC", imdc), ("MSKCC", mskcc))
        if result is not None and result.risk_group == "poor"
    ]
    if poor:
        rule = kb.rule("cn.avoid-poor-risk")
        reasons.append(because(kb, rule.id, f"{' and '.join(poor)} poor risk. {rule.statement}"))
    _, untreated_brain = brain_metastases(case)
    if untreated_brain:
        reasons.append(because(kb, "cn.avoid-active-brain-metastases"))
    if case.primary_tumour.renal_share_of_burden is RenalShare.LOW:
        reasons.append(because(kb, "cn.avoid-low-renal-share"))
    if good_performance(case) is False:
        reasons.append(because(kb, "cn.avoid-poor-performance"))
    if case.disease.rapidly_progressing:
        reasons.append(because(kb, "cn.avoid-rapid-progression"))
    if case.disease.symptomatic_metastases or case.disease.spinal_cord_compression:
        reasons.append(because(kb, "cn.avoid-symptomatic-metastases"))
    if case.primary_tumour.resectable is False:
        reasons.append(because(kb, "cn.requires-resectable-primary"))
    return reasons


def _favouring_criteria(case: Case, kb: KnowledgeBase) -> list[Reason]:
    p = case.primary_tumour
    reasons: list[Reason] = []
    if p.renal_share_of_burden is RenalShare.HIGH:
        reasons.append(because(kb, "cn.high-renal-burden"))
    if primary_symptomatic(case):
        reasons.append(because(kb, "cn.symptomatic-primary"))
    if p.paraneoplastic_syndrome:
        reasons.append(because(kb, "cn.paraneoplastic"))
    if good_performance(case) and p.contralateral_kidney_normal:
        reasons.append(because(kb, "cn.excellent-performance"))
    return reasons


def _unknowns(case: Case, imdc: RiskResult) -> tuple[str, ...]:
    p = case.primary_tumour
    items = {
        "primary tumour in place or removed": p.in_place is None and p.nephrectomy_date is None,
        "IMDC risk group": imdc.risk_group is None,
        "performance status": good_performance(case) is None,
        "resectability of the primary": p.resectable is None,
        "share of tumour burden in the kidney": p.renal_share_of_burden is None,
        "symptoms from the primary (bleeding, pain)": primary_symptomatic(case) is None,
        # A favouring criterion (_unknown_criteria): an "uncertain" answer may name it.
        "paraneoplastic syndrome": p.paraneoplastic_syndrome is None,
        "brain imaging": brain_metastases(case)[0] is None,
        "contralateral kidney function": p.contralateral_kidney_normal is None,
    }
    return tuple(name for name, unknown in items.items() if unknown)


def decide(
    case: Case, imdc: RiskResult, kb: KnowledgeBase, mskcc: RiskResult | None = None
) -> Decision:
    if case.primary_tumour.removed:
        return Decision("not-applicable", (because(kb, "cn.primary-removed"),))
    unknowns = _unknowns(case, imdc)
    against = _against(case, imdc, kb, mskcc)
    if against:
        return Decision("not-recommended", tuple(against), unknowns)
    if any(
        t.best_response in (Response.COMPLETE, Response.PARTIAL)
        for t in case.metastatic_prior_therapies
    ):
        return Decision("consider-deferred", (because(kb, "cn.deferred-after-response"),), unknowns)
    favouring = _favouring_criteria(case, kb)
    undetermined = imdc.risk_group is None
    if undetermined and "poor" in imdc.possible_groups:
        return Decision(
            "consider-deferred", (because(kb, "cn.risk-undetermined"), *favouring), unknowns
        )
    intermediate_possible = imdc.risk_group == "intermediate" or (
        undetermined and "intermediate" in imdc.possible_groups
    )
    if intermediate_possible and primary_symptomatic(case) is not True:
        reasons = [because(kb, "cn.no-immediate-cn-intermediate"), *favouring]
        if undetermined:
            reasons.insert(0, because(kb, "cn.risk-undetermined"))
        return Decision("consider-deferred", tuple(reasons), unknowns)
    if favouring and case.primary_tumour.resectable is not False:
        reasons = [*favouring]
        if case.primary_tumour.resectable is None:
            reasons.append(because(kb, "cn.requires-resectable-primary"))
        return Decision("consider-upfront", tuple(reasons), unknowns)
    open_criteria = _unknown_criteria(case)
    if not favouring and open_criteria:
        # Unknown is not "none met": any of these could make upfront CN worth considering.
        text = (
            "Uncertain: none of the criteria favouring upfront cytoreductive nephrectomy is "
            "recorded as met, but it would be settled by: " + "; ".join(open_criteria) + "."
        )
        return Decision("uncertain", (because(kb, "cn.criteria-unknown", text),), unknowns)
    return Decision("consider-deferred", (because(kb, "cn.deferred-default"),), unknowns)


def _unknown_criteria(case: Case) -> list[str]:
    """Criteria favouring CN that are not recorded (KCRNC 2019; PDQ)."""
    p = case.primary_tumour
    items = {
        "share of tumour burden in the kidney": p.renal_share_of_burden is None,
        "symptoms from the primary (bleeding, pain)": primary_symptomatic(case) is None,
        "paraneoplastic syndrome": p.paraneoplastic_syndrome is None,
        "performance status": good_performance(case) is None,
        "contralateral kidney function": p.contralateral_kidney_normal is None
        and good_performance(case) is not False,
    }
    return [name for name, unknown in items.items() if unknown]
