"""IMDC (Heng) model: six factors, lab-relative limits (Heng 2009 [1], 2013 [2])."""

from __future__ import annotations

from datetime import date

from rccnav.core.assessment import RiskResult
from rccnav.core.baseline import Baseline
from rccnav.core.case import Case
from rccnav.core.prognosis import factors as f
from rccnav.core.prognosis.risk import classify, survival_caveat
from rccnav.knowledge.model import KnowledgeBase


def imdc_risk(
    case: Case,
    baseline: Baseline,
    kb: KnowledgeBase,
    on: date,
    line: int,
    shared: f.SharedFactors | None = None,
) -> RiskResult:
    labs = baseline.labs
    calcium, calcium_missing = f.calcium_lab(baseline)
    factors = (
        *(shared or f.shared_factors(case, baseline, kb, on)),
        f.above_upper_limit("calcium", calcium, calcium_missing),
        f.above_upper_limit("neutrophils", labs.get("neutrophils"), "no usable neutrophil count"),
        f.above_upper_limit("platelets", labs.get("platelets"), "no usable platelet count"),
    )
    setting = "first-line" if line == 1 else "second-line"
    caveat = survival_caveat("imdc", case.diagnosis.histology, line)
    return classify("imdc", factors, kb, "prognosis.imdc", setting, caveat)
