"""Is the patient hypercalcaemic, and how severely? (emergency, bone-agent advice)

Severity is read from the albumin-corrected calcium the baseline prepared (reported
corrected value, or Payne from total calcium and albumin) in mg/dL: mild above the
upper limit but below 12, moderate 12 to below 14, severe 14 or more (bands in common
use; thresholds are knowledge-base parameters). A recorded diagnosis of
hypercalcaemia, or an ionised calcium above its upper limit, without a corrected value
is hypercalcaemia of unknown severity. A borderline value inside a fallback limit
interval is unknown, never normal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rccnav.core.baseline import Baseline, LabValue
from rccnav.core.case import Case
from rccnav.core.records import quick_init
from rccnav.knowledge.model import KnowledgeBase

RULE = "emergency.hypercalcaemia"

Grade = Literal["mild", "moderate", "severe", "present"]


@quick_init
@dataclass(frozen=True, slots=True)
class Calcium:
    """``raised``: True / False / None (unknown); ``grade`` when raised."""

    raised: bool | None
    grade: Grade | None = None
    evidence: str = ""
    source: str | None = None


def _above_upper(value: LabValue) -> bool | None:
    upper = value.upper
    if upper is None:
        return None
    if value.value > upper.high:
        return True
    if value.value <= upper.low:
        return False
    return None


def assess(case: Case, baseline: Baseline, kb: KnowledgeBase) -> Calcium:
    corrected = baseline.labs.get("calcium_corrected")
    if corrected is not None and (corrected.method or "").startswith("albumin not recorded"):
        return _bound_without_albumin(corrected, kb)
    if corrected is not None:
        text = f"corrected calcium {corrected.value:g} mg/dL"
        if corrected.value >= kb.param(RULE, "severe_from_mg_dl"):
            return Calcium(True, "severe", text, corrected.source)
        if corrected.value >= kb.param(RULE, "moderate_from_mg_dl"):
            return Calcium(True, "moderate", text, corrected.source)
        above = _above_upper(corrected)
        if above:
            return Calcium(True, "mild", text, corrected.source)
        if above is False and case.disease.hypercalcaemia is not True:
            return Calcium(False, None, text, corrected.source)
    ionized = baseline.labs.get("calcium_ionized")
    if ionized is not None and _above_upper(ionized):
        text = f"ionised calcium {ionized.value:g} mmol/L above its upper limit"
        return Calcium(True, "present", text, ionized.source)
    if case.disease.hypercalcaemia is True:
        source = case.disease.sources.get("hypercalcaemia", "disease.hypercalcaemia")
        return Calcium(True, "present", "hypercalcaemia recorded", source)
    if ionized is not None and _above_upper(ionized) is False and corrected is None:
        return Calcium(False, None, "ionised calcium within its limits", ionized.source)
    return Calcium(None)


def _bound_without_albumin(corrected: LabValue, kb: KnowledgeBase) -> Calcium:
    """Albumin not recorded: the baseline gives a bound valid for any plausible albumin.

    An upper bound within the limit means not raised. A lower bound above it means raised,
    but the severity is only known to be at least that bound's band: unless that band is
    already severe, it is reported as raised of ungraded severity (urgent), never as mild.
    """
    method = corrected.method or ""
    if "at least" not in method:
        return Calcium(
            False, None, "calcium not raised for any plausible albumin", corrected.source
        )
    text = f"corrected calcium at least {corrected.value:g} mg/dL, albumin not recorded"
    if corrected.value >= kb.param(RULE, "severe_from_mg_dl"):
        return Calcium(True, "severe", text, corrected.source)
    return Calcium(True, "present", text, corrected.source)
