"""MSKCC (Motzer 2002) model: five factors, absolute calcium and LDH multiple [7]."""

from __future__ import annotations

from datetime import date

from rccnav.core.assessment import RiskResult
from rccnav.core.baseline import Baseline
from rccnav.core.case import Case
from rccnav.core.prognosis import factors as f
from rccnav.core.prognosis.risk import classify, survival_caveat
from rccnav.knowledge.model import KnowledgeBase


def mskcc_risk(
    case: Case,
    baseline: Baseline,
    kb: KnowledgeBase,
    on: date,
    shared: f.SharedFactors | None = None,
    line: int = 1,
) -> RiskResult:
    labs = baseline.labs
    calcium, calcium_missing = f.calcium_lab(baseline)
    if calcium is not None and calcium.analyte == "calcium_ionized":
        # The 10 mg/dL cut-off applies to corrected total calcium only.
        calcium, calcium_missing = (
            None,
            "only ionized calcium known: MSKCC needs corrected total calcium",
        )
    factors = (
        *(shared or f.shared_factors(case, baseline, kb, on)),
        f.above_absolute(
            "calcium", calcium, calcium_missing, kb.param("prognosis.mskcc", "calcium_mg_dl")
        ),
        f.above_upper_limit(
            "ldh",
            labs.get("ldh"),
            "no usable LDH result",
            multiple=kb.param("prognosis.mskcc", "ldh_uln_multiple"),
            label="> 1.5 x ULN",
        ),
    )
    caveat = survival_caveat("mskcc", case.diagnosis.histology, line)
    return classify("mskcc", factors, kb, "prognosis.mskcc", "first-line", caveat)
