"""From factors to a risk group, honestly: with unknowns, the set of possible groups."""

from __future__ import annotations

from rccnav.core.assessment import Factor, MissingItem, RiskGroupName, RiskResult, Survival
from rccnav.knowledge.model import KnowledgeBase

GROUP_ORDER: tuple[RiskGroupName, ...] = ("favorable", "intermediate", "poor")

NEEDED = {
    "performance_status": "Karnofsky performance status (KPS)",
    "time_to_treatment": "date of the initial RCC diagnosis",
    "hemoglobin": "hemoglobin with the lab's reference range",
    "calcium": "serum calcium with albumin (or a corrected calcium)",
    "neutrophils": "absolute neutrophil count with the lab's reference range",
    "platelets": "platelet count with the lab's reference range",
    "ldh": "LDH with the lab's upper limit of normal",
}


def group_for_count(count: int) -> RiskGroupName:
    # 0 favorable, 1-2 intermediate, >= 3 poor: IMDC [1] and MSKCC 2002 [7] alike.
    if count == 0:
        return "favorable"
    return "intermediate" if count <= 2 else "poor"


_SURVIVAL: dict[tuple[str, str, str], dict[str, Survival]] = {}


def _survival(kb: KnowledgeBase, model: str, setting: str) -> dict[str, Survival]:
    """Published median OS by group for one model and setting (memoised per KB content)."""
    key = (kb.checksum, model, setting)
    rows = _SURVIVAL.get(key)
    if rows is None:
        rows = _SURVIVAL[key] = {
            row.risk_group: Survival(
                risk_group=row.risk_group,
                median_os_months=row.median_os_months,
                setting=row.setting,
                cohort=row.cohort,
                sources=row.sources,
                review_status=row.status.value,
            )
            for row in kb.survival
            if row.model == model and row.setting == setting
        }
    return rows


def classify(
    model: str,
    factors: tuple[Factor, ...],
    kb: KnowledgeBase,
    rule_id: str,
    survival_setting: str,
) -> RiskResult:
    present = sum(1 for f in factors if f.status == "present")
    unknown = [f for f in factors if f.status == "unknown"]
    counts = range(present, present + len(unknown) + 1)
    possible = tuple(g for g in GROUP_ORDER if g in {group_for_count(c) for c in counts})
    group = possible[0] if len(possible) == 1 else None
    # Unknown factors change the group jointly: any one of them matters while
    # more than one group is still possible.
    missing = tuple(
        MissingItem(
            factor=f.name, needed=NEEDED.get(f.name, f.name), could_change_group=len(possible) > 1
        )
        for f in unknown
    )
    rule = kb.rule(rule_id)
    published = _survival(kb, model, survival_setting)
    survival = tuple(published[g] for g in possible if g in published)
    return RiskResult(
        model=model,  # type: ignore[arg-type]
        risk_group=group,
        possible_groups=possible,
        factor_count_min=present,
        factor_count_max=present + len(unknown),
        factors=factors,
        missing=missing,
        survival=survival,
        rule=rule.id,
        sources=rule.sources,
    )
