"""Shared risk factors of the IMDC and MSKCC models, each present/absent/unknown.

Every function returns a :class:`Factor` that carries its evidence: the value,
unit, threshold and whose reference range decided it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from rccnav.core.assessment import Factor
from rccnav.core.baseline import Baseline, LabValue, Limit
from rccnav.core.case import Case
from rccnav.core.records import quick_init
from rccnav.knowledge.model import KnowledgeBase


def first_anniversary(day: date) -> date:
    """The same calendar day one year later; 29 February maps to 28 February."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


@quick_init
@dataclass(frozen=True, slots=True)
class FirstLine:
    """When first-line systemic therapy for metastatic disease started, once it has.

    ``start`` is None when it started on an unrecorded date; ``latest_possible`` is then
    the last day it can have started (the start of a later line, else the assessment date).
    """

    agents: tuple[str, ...]
    start: date | None
    latest_possible: date


def treatment_date(case: Case, on: date) -> date:
    """Start of the therapy being risk-stratified: the planned start if given, else ``on``."""
    planned = case.proposed_therapy.planned_start if case.proposed_therapy else None
    return planned if planned is not None else on


def _interval(case: Case, on: date, first_line: FirstLine | None) -> tuple[date | None, date, str]:
    """(start date if known, latest possible start, what the interval is measured to)."""
    if first_line is None:
        planned = case.proposed_therapy.planned_start if case.proposed_therapy else None
        if planned is not None:
            return planned, planned, "the planned start of first-line systemic therapy"
        return on, on, "the assessment date (first-line systemic therapy not yet started)"
    what = f"the start of first-line systemic therapy ({' + '.join(first_line.agents)})"
    return first_line.start, first_line.latest_possible, what


def time_to_treatment(
    case: Case, on: date, kb: KnowledgeBase, first_line: FirstLine | None = None
) -> Factor:
    """Initial diagnosis to first-line systemic therapy (rule prognosis.time-to-treatment).

    IMDC is a pre-treatment model: once first-line therapy has started (the patient is
    on it or past it) the interval ends at its start, never at today.
    """
    rule = kb.rule("prognosis.time-to-treatment")
    diagnosed = case.diagnosis.date
    start, latest, measured_to = _interval(case, on, first_line)
    name = "time_to_treatment"
    if diagnosed is None:
        return Factor(
            name, "unknown", "date of initial RCC diagnosis is unknown", threshold=rule.statement
        )
    # A date known only as a month or year is the interval of days it can stand for
    # (diagnosis: [date, date_latest]; first-line start: [start, latest]). The factor is
    # present only if it is for the earliest diagnosis and the latest start, absent only if
    # it is for the latest diagnosis and the earliest start, and unknown in between.
    last_possible = case.diagnosis.date_latest or diagnosed
    anniversary = first_anniversary(diagnosed)
    last_anniversary = first_anniversary(last_possible)
    if start is not None and latest < start:
        latest = start
    if start is not None and not latest < anniversary and not start >= last_anniversary:
        partial = []
        if last_possible > diagnosed:
            partial.append(
                f"the initial diagnosis is recorded only as a day from {diagnosed} to "
                f"{last_possible}"
            )
        if latest > start:
            partial.append(f"{measured_to} is recorded only as a day from {start} to {latest}")
        shown = f"{start}" if latest == start else f"{start} to {latest}"
        return Factor(
            name,
            "unknown",
            f"{'; '.join(partial)}; the interval from diagnosis to {measured_to} ({shown}) "
            "is less than a year for some of those days and a year or more for others: "
            "record the exact dates",
            threshold="< 1 calendar year",
            source=case.diagnosis.source or "diagnosis.date",
            observed_on=diagnosed,
        )
    if start is None:
        if latest < anniversary:
            # Whatever the unrecorded start date, it lies before the first anniversary.
            return Factor(
                name,
                "present",
                f"{measured_to} is not dated, but it started by {latest}, before the first "
                f"anniversary {anniversary} of the initial diagnosis ({diagnosed}); "
                "interval: initial diagnosis to the start of first-line therapy (IMDC is a "
                "pre-treatment model)",
                threshold="< 1 calendar year",
                source=case.diagnosis.source or "diagnosis.date",
                observed_on=diagnosed,
            )
        return Factor(
            name,
            "unknown",
            f"{measured_to} is not dated (it started on or before {latest}): the interval "
            f"from the initial diagnosis ({diagnosed}) to it cannot be measured",
            threshold=rule.statement,
            source=case.diagnosis.source,
        )
    if diagnosed > start:
        return Factor(
            name,
            "unknown",
            f"diagnosis date {diagnosed} is after the treatment date {start} ({measured_to})",
            source=case.diagnosis.source,
        )
    present = latest < anniversary  # for date intervals: latest start, earliest diagnosis
    bound = ""
    if present:
        bound = "at most " if latest > start or last_possible > diagnosed else ""
        start = latest
    else:  # ... and absent: earliest start, latest diagnosis (straddling returned above)
        bound = "at least " if latest > start or last_possible > diagnosed else ""
        diagnosed, anniversary = last_possible, last_anniversary
    days = (start - diagnosed).days
    why = (
        "; interval: initial diagnosis to the start of first-line therapy, not to today "
        "(IMDC is a pre-treatment model)"
        if first_line is not None
        else ""
    )
    return Factor(
        name,
        "present" if present else "absent",
        f"{bound}{days} days from initial diagnosis ({diagnosed}) to {measured_to} ({start}); "
        f"{'before' if present else 'on or after'} the first anniversary {anniversary}{why}",
        value=float(days),
        unit="d",
        threshold="< 1 calendar year",
        source=case.diagnosis.source or "diagnosis.date",
        observed_on=diagnosed,
    )


def performance_status(case: Case, kb: KnowledgeBase) -> Factor:
    """KPS < 80 (IMDC [1], MSKCC [7]); ECOG is converted honestly (reference §3.3)."""
    name = "performance_status"
    ps = case.performance
    if ps is None or (ps.kps is None and ps.ecog is None):
        return Factor(name, "unknown", "neither KPS nor ECOG recorded", threshold="KPS < 80")
    source = ps.source or "performance"
    if ps.kps is not None:
        present = ps.kps < 80
        return Factor(
            name,
            "present" if present else "absent",
            f"KPS {ps.kps} {'<' if present else '>='} 80",
            value=float(ps.kps),
            unit="%",
            threshold="KPS < 80",
            reference="Karnofsky",
            source=source,
            observed_on=ps.date,
        )
    assert ps.ecog is not None
    low = kb.param("prognosis.ecog-to-kps", f"ecog{ps.ecog}_kps_low")
    high = kb.param("prognosis.ecog-to-kps", f"ecog{ps.ecog}_kps_high")
    if high < 80:
        status, verdict = "present", "all below 80"
    elif low >= 80:
        status, verdict = "absent", "all 80 or above"
    else:
        status, verdict = "unknown", "spans 80: record KPS to settle this factor"
    return Factor(
        name,
        status,  # type: ignore[arg-type]
        f"ECOG {ps.ecog} corresponds to KPS {low:.0f}-{high:.0f} ({verdict})",
        value=float(ps.ecog),
        unit="ECOG",
        threshold="KPS < 80",
        reference="ECOG-KPS conversion (Oken 1982; Karnofsky 1949)",
        source=source,
        observed_on=ps.date,
    )


# Values and limits arrive through unit conversions, so a value reported exactly at its
# limit can differ from it in the last binary digits; such noise must not decide a factor.
_RELATIVE_TOLERANCE = 1e-9


def _above(value: float, limit: float) -> bool:
    return value > limit + abs(limit) * _RELATIVE_TOLERANCE


def _below(value: float, limit: float) -> bool:
    return value < limit - abs(limit) * _RELATIVE_TOLERANCE


def _describe(lab: LabValue) -> str:
    text = f"{lab.value:g} {lab.unit}"
    if lab.method and lab.analyte == "calcium_corrected":
        text += f" ({lab.method})"
    return text


def below_lower_limit(name: str, lab: LabValue | None, missing: str) -> Factor:
    if lab is None:
        return Factor(name, "unknown", missing, threshold="< LLN")
    limit = lab.lower
    if limit is None:
        return Factor(name, "unknown", f"{_describe(lab)}, no lower limit known", source=lab.source)
    if _below(lab.value, limit.low):
        status, verdict = "present", "below"
    elif not _below(lab.value, limit.high):
        status, verdict = "absent", "not below"
    else:
        status, verdict = "unknown", "within the span of fallback limits"
    return _lab_factor(name, lab, status, verdict, limit, "< LLN")


def above_upper_limit(
    name: str, lab: LabValue | None, missing: str, multiple: float = 1.0, label: str = "> ULN"
) -> Factor:
    if lab is None:
        return Factor(name, "unknown", missing, threshold=label)
    limit = lab.upper
    if limit is None:
        return Factor(name, "unknown", f"{_describe(lab)}, no upper limit known", source=lab.source)
    scaled = Limit(limit.low * multiple, limit.high * multiple, limit.reference)
    if _above(lab.value, scaled.high):
        status, verdict = "present", "above"
    elif not _above(lab.value, scaled.low):
        status, verdict = "absent", "not above"
    else:
        status, verdict = "unknown", "within the span of fallback limits"
    return _lab_factor(name, lab, status, verdict, scaled, label)


def above_absolute(name: str, lab: LabValue | None, missing: str, cutoff: float) -> Factor:
    if lab is None:
        return Factor(name, "unknown", missing, threshold=f"> {cutoff:g}")
    present = _above(lab.value, cutoff)
    return Factor(
        name,
        "present" if present else "absent",
        f"{_describe(lab)} {'>' if present else '<='} {cutoff:g} {lab.unit}",
        value=lab.value,
        unit=lab.unit,
        threshold=f"> {cutoff:g} {lab.unit}",
        reference="absolute cut-off",
        source=lab.source,
        observed_on=lab.observed_on,
    )


def _lab_factor(
    name: str, lab: LabValue, status: str, verdict: str, limit: Limit, label: str
) -> Factor:
    shown = f"{limit.low:g}" if limit.low == limit.high else f"{limit.low:g}-{limit.high:g}"
    return Factor(
        name,
        status,  # type: ignore[arg-type]
        f"{_describe(lab)} is {verdict} the limit {shown} {lab.unit} ({limit.reference})",
        value=lab.value,
        unit=lab.unit,
        threshold=f"{label} ({shown} {lab.unit})",
        reference=limit.reference,
        source=lab.source,
        observed_on=lab.observed_on,
    )


def calcium_lab(baseline: Baseline) -> tuple[LabValue | None, str]:
    """The calcium value to score and, if none, what is missing."""
    labs = baseline.labs
    if "calcium_corrected" in labs:
        return labs["calcium_corrected"], ""
    if "calcium_ionized" in labs:
        return labs["calcium_ionized"], ""
    if "calcium_total" in labs:
        return None, "total calcium known but albumin missing: corrected calcium cannot be computed"
    return None, "no usable calcium result"


def shared_factors(
    case: Case,
    baseline: Baseline,
    kb: KnowledgeBase,
    on: date,
    first_line: FirstLine | None = None,
) -> SharedFactors:
    """The three factors IMDC and MSKCC define identically, evaluated once."""
    return SharedFactors(
        performance_status(case, kb),
        time_to_treatment(case, on, kb, first_line),
        below_lower_limit(
            "hemoglobin", baseline.labs.get("hemoglobin"), "no usable hemoglobin result"
        ),
    )


class SharedFactors(NamedTuple):
    performance: Factor
    time_to_treatment: Factor
    hemoglobin: Factor
