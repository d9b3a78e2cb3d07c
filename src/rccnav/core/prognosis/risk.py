"""From factors to a risk group, honestly: with unknowns, the set of possible groups."""

from __future__ import annotations

from dataclasses import replace

from rccnav.core.assessment import Factor, MissingItem, RiskGroupName, RiskResult, Survival
from rccnav.core.case import Histology
from rccnav.core.memo import Memo
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


_SURVIVAL: Memo[tuple[str, str, str], dict[str, Survival]] = Memo("survival rows", "knowledge", 64)


def _survival(kb: KnowledgeBase, model: str, setting: str) -> dict[str, Survival]:
    """Published median OS by group for one model and setting (memoised per KB content)."""
    key = (kb.checksum, model, setting)
    rows = _SURVIVAL.get(key)
    if rows is None:
        rows = {
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
        _SURVIVAL.put(key, rows)
    return rows


def survival_caveat(model: str, histology: Histology | None, line: int) -> str | None:
    """What the published survival figures do not cover for this patient (rule
    prognosis.survival-cohorts): they come from mostly clear-cell cohorts, first-line
    (IMDC Heng 2013, MSKCC Motzer 2002) or second-line after targeted therapy (Ko 2015)."""
    notes: list[str] = []
    if histology is not Histology.CLEAR_CELL:
        kind = "unknown" if histology is None else f"{histology.value}"
        notes.append(
            "These figures come from cohorts of mostly clear-cell RCC; they were not measured "
            f"in {kind} histology and are only a rough guide for this patient."
        )
    if model == "mskcc" and line > 1:
        notes.append(
            "MSKCC figures come from patients starting first-line interferon-alfa "
            "(Motzer 2002), not from patients who have already had systemic therapy."
        )
    if model == "imdc" and line == 2:
        notes.append(
            "Second-line figures come from patients starting second-line therapy after "
            "first-line VEGF-targeted therapy (Ko 2015, mostly clear-cell), before "
            "checkpoint-inhibitor first-line treatment."
        )
    if model == "imdc" and line > 2:
        notes.append(
            f"No figures were published for line {line}: these are second-line figures "
            "(Ko 2015, mostly clear-cell, after first-line VEGF-targeted therapy)."
        )
    return " ".join(notes) or None


def classify(
    model: str,
    factors: tuple[Factor, ...],
    kb: KnowledgeBase,
    rule_id: str,
    survival_setting: str,
    caveat: str | None = None,
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
    survival = tuple(
        replace(published[g], caveat=caveat) if caveat else published[g]
        for g in possible
        if g in published
    )
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
