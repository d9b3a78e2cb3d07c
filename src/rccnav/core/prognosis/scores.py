"""The lab baseline and the IMDC and MSKCC scores, memoised by the exact record they read.

Both are pure functions of a few parts of the record: the baseline of the labs, sex, date
of birth, vitals (weight) and performance status (with the assessment date and look-back
window); the scores of that baseline with the diagnosis, the planned start of therapy,
the line and the first line's start. A record assessed again (a service asked twice, the
same patient in another guideline's view) reuses them.

A key must tell apart every two records that could be reported differently, and equality
of the pydantic models does so except for one pair of floats: ``-0.0 == 0.0`` although one
prints "-0" (a float that is not a number never equals another, so it is never matched
by value). So a baseline is kept only when no lab or vital value or limit is zero: an
equal record then holds exactly the same floats. The other parts hold no floats.
``tests/core/test_scores_memo.py`` compares the memoised answer with the computed one.
"""

from __future__ import annotations

from datetime import date

from rccnav.core.assessment import RiskResult
from rccnav.core.baseline import Baseline, prepare_baseline
from rccnav.core.case import Case, Measurement
from rccnav.core.memo import SWITCH, Memo
from rccnav.core.prognosis.factors import FirstLine, shared_factors
from rccnav.core.prognosis.imdc import imdc_risk
from rccnav.core.prognosis.mskcc import mskcc_risk
from rccnav.knowledge.model import KnowledgeBase

#: IMDC and MSKCC.
Scores = tuple[RiskResult, RiskResult]

_BASELINES: Memo[tuple[object, ...], Baseline] = Memo("lab baseline", "patient", 4096)
_SCORES: Memo[tuple[object, ...], Scores] = Memo("risk scores", "patient", 4096)


def baseline_key(case: Case, kb: KnowledgeBase, on: date, window: int) -> tuple[object, ...]:
    """Everything ``prepare_baseline`` reads."""
    return (
        kb.checksum,
        on,
        window,
        case.labs,
        case.vitals,
        case.sex,
        case.birth_date,
        case.performance,
    )


def _holds_zero(case: Case) -> bool:
    """Whether a lab or vital sign holds a zero value or limit (0.0 and -0.0 are equal
    but print differently, so such a record is never kept)."""
    for measurement in (*case.labs.__dict__.values(), *case.vitals.__dict__.values()):
        if isinstance(measurement, Measurement) and 0.0 in (
            measurement.value,
            measurement.low,
            measurement.high,
        ):
            return True
    return False


def baseline(
    case: Case, kb: KnowledgeBase, on: date, window: int
) -> tuple[Baseline, tuple[object, ...] | None]:
    """The baseline, and its key (None when patient memos are off)."""
    if not SWITCH.patient_memos:
        return prepare_baseline(case, kb, on, window), None
    key = baseline_key(case, kb, on, window)
    found = _BASELINES.get(key)
    if found is None:
        found = prepare_baseline(case, kb, on, window)
        if _holds_zero(case):
            return found, None
        _BASELINES.put(key, found)
    return found, key


def scores(
    case: Case,
    measured: Baseline,
    measured_key: tuple[object, ...] | None,
    kb: KnowledgeBase,
    on: date,
    line: int,
    first_line: FirstLine | None,
) -> Scores:
    """IMDC and MSKCC of ``case`` (performance status as usable on ``on``)
    from ``measured`` (the baseline under ``measured_key``)."""
    if measured_key is None or not SWITCH.patient_memos:
        return _scores(case, measured, kb, on, line, first_line)
    key = scores_key(case, measured_key, line, first_line)
    found = _SCORES.get(key)
    if found is None:
        found = _SCORES.put(key, _scores(case, measured, kb, on, line, first_line))
    return found


def scores_key(
    case: Case, measured_key: tuple[object, ...], line: int, first_line: FirstLine | None
) -> tuple[object, ...]:
    """Everything the scores read beside the baseline (under ``measured_key``)."""
    planned = case.proposed_therapy.planned_start if case.proposed_therapy else None
    return (measured_key, case.diagnosis, planned, line, first_line)


def _scores(
    case: Case,
    measured: Baseline,
    kb: KnowledgeBase,
    on: date,
    line: int,
    first_line: FirstLine | None,
) -> Scores:
    shared = shared_factors(case, measured, kb, on, first_line)
    return (
        imdc_risk(case, measured, kb, on, line, shared),
        mskcc_risk(case, measured, kb, on, shared, line),
    )
