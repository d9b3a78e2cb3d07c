"""Baseline values for risk scoring: labs in canonical units with their limits.

A lab result is usable only if it is dated on or before the assessment date,
falls inside the look-back window, has a convertible UCUM unit and a plausible
value. Anything else becomes a ``data-quality`` warning and the item is
unknown: never normal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from rccnav.core.assessment import Warning
from rccnav.core.case import Case, Measurement, PerformanceStatus, ResultStatus, Sex
from rccnav.core.memo import Memo
from rccnav.core.records import quick_init
from rccnav.core.renal_function import (
    RenalEstimate,
    RenalInputError,
    RenalSex,
    ckd_epi_2021,
    cockcroft_gault,
)
from rccnav.core.units import UnitProblem, conversion_factor
from rccnav.knowledge.model import KnowledgeBase

LAB_FIELDS = (
    "hemoglobin",
    "calcium_total",
    "calcium_corrected",
    "calcium_ionized",
    "albumin",
    "neutrophils",
    "platelets",
    "ldh",
    "egfr",
    "creatinine",
    "creatinine_clearance",
    "bilirubin_total",
    "ast",
    "alt",
)


@quick_init
@dataclass(frozen=True, slots=True)
class Limit:
    """A reference limit as an interval: a lab's own limit has low == high."""

    low: float
    high: float
    reference: str


@quick_init
@dataclass(frozen=True, slots=True)
class LabValue:
    analyte: str
    value: float
    unit: str
    observed_on: date | None
    source: str | None
    lower: Limit | None
    upper: Limit | None
    preliminary: bool
    method: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Baseline:
    on: date
    labs: dict[str, LabValue]
    warnings: tuple[Warning, ...]
    ignored: tuple[str, ...]
    performance: PerformanceStatus | None = None


_LIMIT_CACHE: Memo[tuple[str, str, str, Sex | None], Limit | None] = Memo(
    "fallback limits", "knowledge", 1024
)


def _default_limit(kb: KnowledgeBase, analyte: str, which: str, sex: Sex | None) -> Limit | None:
    key = (kb.checksum, analyte, which, sex)
    if key not in _LIMIT_CACHE:
        return _LIMIT_CACHE.put(key, _default_limit_uncached(kb, analyte, which, sex))
    return _LIMIT_CACHE[key]


def _default_limit_uncached(
    kb: KnowledgeBase, analyte: str, which: str, sex: Sex | None
) -> Limit | None:
    rows = [d for d in kb.default_limits if d.analyte == analyte and d.limit == which]
    if not rows:
        return None
    exact = [d for d in rows if sex is not None and d.sex == sex.value]
    generic = [d for d in rows if d.sex == "any"]
    chosen = exact or generic or rows
    low = min(d.low for d in chosen)
    high = max(d.high for d in chosen)
    if exact:
        label = f"default ({sex.value if sex else 'any'})"
    elif generic:
        label = "default"
    else:
        label = "default (sex unknown: widest range)"
    return Limit(low, high, label)


def _lab_value(
    field: str,
    m: Measurement,
    case: Case,
    kb: KnowledgeBase,
    on: date,
    lookback: int,
    earliest: date,
) -> LabValue | Warning | str:
    """``earliest``: the first day of the look-back window (``on - lookback`` days)."""
    where = m.source or f"labs.{field}"
    if m.date is not None and m.date > on:
        return f"{where}: dated {m.date}, after the assessment date {on}"
    if m.date is not None and m.date < earliest:
        return Warning(
            "data-quality",
            "warning",
            f"{field} from {m.date} is older than the {lookback}-day look-back window "
            f"before {on}; treated as unknown",
            source=where,
        )
    analyte = kb.analytes[field]
    factor = conversion_factor(m.unit.strip(), analyte.canonical_unit, analyte.molar_mass_g_per_mol)
    if isinstance(factor, UnitProblem):
        return Warning(
            "data-quality", "warning", f"{field}: {factor.message}; treated as unknown", where
        )
    # One factor for the value and its range, so a value equal to its limit stays equal.
    value = m.value * factor
    low_bound, high_bound = analyte.plausible_range
    if not low_bound <= value <= high_bound:
        return Warning(
            "data-quality",
            "warning",
            f"{field} {m.value} {m.unit} is outside the plausible range "
            f"{low_bound}-{high_bound} {analyte.canonical_unit}; treated as unknown",
            where,
        )
    low = m.low * factor if m.low is not None else None
    high = m.high * factor if m.high is not None else None
    # Positional: assess() builds one per lab result on every call.
    return LabValue(
        field,
        value,
        analyte.canonical_unit,
        m.date,
        where,
        Limit(low, low, "lab") if low is not None else _default_limit(kb, field, "lower", case.sex),
        Limit(high, high, "lab")
        if high is not None
        else _default_limit(kb, field, "upper", case.sex),
        m.status is ResultStatus.PRELIMINARY,
    )


def _corrected_calcium(labs: dict[str, LabValue], kb: KnowledgeBase) -> LabValue | None:
    """Albumin-corrected calcium: reported value as is, else Payne (reference §3.1 [9])."""
    if "calcium_corrected" in labs:
        reported = labs["calcium_corrected"]
        upper = reported.upper
        if upper is not None and upper.reference.startswith("default") and "calcium_total" in labs:
            upper = labs["calcium_total"].upper
        return replace(reported, upper=upper, method="reported as corrected")
    total, albumin = labs.get("calcium_total"), labs.get("albumin")
    if total is None:
        return None
    reference_albumin = kb.param("calcium.payne", "reference_albumin_g_dl")
    slope = kb.param("calcium.payne", "mg_dl_per_g_dl")
    if albumin is None:
        return _calcium_without_albumin(total, kb, reference_albumin, slope)
    corrected = total.value + slope * (reference_albumin - albumin.value)
    return LabValue(
        analyte="calcium_corrected",
        value=round(corrected, 3),
        unit=total.unit,
        observed_on=total.observed_on,
        source=f"{total.source} + {albumin.source}",
        lower=total.lower,
        upper=total.upper,
        preliminary=total.preliminary or albumin.preliminary,
        method=f"Payne: Ca + {slope} x ({reference_albumin} - albumin g/dL)",
    )


def _calcium_without_albumin(
    total: LabValue, kb: KnowledgeBase, reference_albumin: float, slope: float
) -> LabValue | None:
    """Corrected calcium when albumin is not recorded, only where albumin cannot matter.

    Payne's correction falls as albumin rises. With the highest albumin rccnav accepts as
    plausible (knowledge base, analyte ``albumin``) the corrected value is the lowest it
    can be; if that is still above the upper limit, calcium is raised whatever the albumin.
    Symmetrically, with the lowest plausible albumin it is the highest it can be; if that
    is not above the limit, calcium is not raised. Otherwise it stays unknown (None).
    """
    analyte = kb.analytes.get("albumin")
    per_g_dl = _mg_dl_factor(total.unit)
    if analyte is None or per_g_dl is None or total.upper is None:
        return None
    low_albumin, high_albumin = analyte.plausible_range
    lowest = total.value + slope * (reference_albumin - high_albumin) / per_g_dl
    highest = total.value + slope * (reference_albumin - low_albumin) / per_g_dl
    if lowest > total.upper.high:
        value, bound, albumin, words = lowest, "at least", high_albumin, "raised"
    elif highest <= total.upper.low:
        value, bound, albumin, words = highest, "at most", low_albumin, "not raised"
    else:
        return None
    return LabValue(
        analyte="calcium_corrected",
        value=round(value, 3),
        unit=total.unit,
        observed_on=total.observed_on,
        source=total.source,
        lower=total.lower,
        upper=total.upper,
        preliminary=total.preliminary,
        method=(
            f"albumin not recorded: {bound} this value (Payne with albumin {albumin:g} g/dL, "
            f"the {'highest' if albumin == high_albumin else 'lowest'} plausible), so {words} "
            "whatever the albumin"
        ),
    )


def _mg_dl_factor(unit: str) -> float | None:
    """How many mg/dL one unit of ``unit`` is, for calcium (Payne's slope is in mg/dL)."""
    if unit == "mg/dL":
        return 1.0
    if unit == "mmol/L":
        return 4.008  # calcium 40.078 g/mol: 1 mmol/L = 4.008 mg/dL
    return None


def _kidney_function(
    labs: dict[str, LabValue], case: Case, warnings: list[Warning]
) -> dict[str, LabValue]:
    """eGFR (CKD-EPI 2021) and Cockcroft-Gault CrCl from creatinine when not reported.

    Computed only from a usable creatinine with the patient's age and sex (and weight
    for CrCl); each names its method. A reported eGFR is never replaced.
    """
    creatinine = labs.get("creatinine")
    if creatinine is None or case.sex not in (Sex.FEMALE, Sex.MALE):
        return {}
    day = creatinine.observed_on
    if case.birth_date is None or day is None:
        return {}
    age = (day - case.birth_date).days / 365.25
    sex: RenalSex = "female" if case.sex is Sex.FEMALE else "male"
    computed: dict[str, LabValue] = {}
    try:
        if "egfr" not in labs:
            estimate = ckd_epi_2021(creatinine.value, age, sex)
            computed["egfr"] = _estimated("egfr", estimate, creatinine, creatinine.source)
        weight = _weight_kg(case)
        if weight is not None and case.labs.creatinine_clearance is None:
            estimate = cockcroft_gault(creatinine.value, age, sex, weight[0])
            source = f"{creatinine.source} + {weight[1]}"
            computed["creatinine_clearance"] = _estimated(
                "creatinine_clearance", estimate, creatinine, source
            )
    except RenalInputError as exc:
        warnings.append(
            Warning("data-quality", "info", f"kidney function not estimated: {exc}", None)
        )
        return {}
    for value in computed.values():
        warnings.append(
            Warning(
                "data-quality",
                "info",
                f"{'estimated GFR' if value.analyte == 'egfr' else 'creatinine clearance'} "
                f"{value.value:g} {value.unit} calculated from creatinine ({value.method})",
                value.source,
            )
        )
    return computed


def _estimated(
    analyte: str, estimate: RenalEstimate, creatinine: LabValue, source: str | None
) -> LabValue:
    return LabValue(
        analyte=analyte,
        value=estimate.value,
        unit="mL/min",
        observed_on=creatinine.observed_on,
        source=source,
        lower=None,
        upper=None,
        preliminary=creatinine.preliminary,
        method=estimate.method,
    )


def _weight_kg(case: Case) -> tuple[float, str] | None:
    weight = case.vitals.weight
    if weight is None:
        return None
    factor = conversion_factor(weight.unit.strip(), "kg", None)
    if isinstance(factor, UnitProblem):
        return None
    return weight.value * factor, weight.source or "vitals.weight"


def prepare_baseline(case: Case, kb: KnowledgeBase, on: date, lookback_days: int) -> Baseline:
    labs: dict[str, LabValue] = {}
    warnings: list[Warning] = []
    ignored: list[str] = []
    earliest = on - timedelta(days=lookback_days)
    recorded = case.labs
    for field in LAB_FIELDS:
        measurement = getattr(recorded, field)
        if measurement is None:
            continue
        result = _lab_value(field, measurement, case, kb, on, lookback_days, earliest)
        if isinstance(result, LabValue):
            labs[field] = result
            if measurement.date is None:
                warnings.append(
                    Warning(
                        "data-quality",
                        "info",
                        f"{field} has no date; assumed to be a current baseline value",
                        result.source,
                    )
                )
            if result.preliminary:
                warnings.append(
                    Warning(
                        "data-quality", "info", f"{field} is a preliminary result", result.source
                    )
                )
        elif isinstance(result, Warning):
            warnings.append(result)
        else:
            ignored.append(result)
    corrected = _corrected_calcium(labs, kb)
    if corrected is not None:
        labs["calcium_corrected"] = corrected
    labs.update(_kidney_function(labs, case, warnings))
    performance = _usable_performance(case, on, lookback_days, warnings, ignored)
    return Baseline(
        on=on,
        labs=labs,
        warnings=tuple(warnings),
        ignored=tuple(ignored),
        performance=performance,
    )


def _usable_performance(
    case: Case, on: date, lookback: int, warnings: list[Warning], ignored: list[str]
) -> PerformanceStatus | None:
    """Performance status is a baseline value like the labs: same window, same rules."""
    ps = case.performance
    if ps is None or ps.date is None:
        return ps
    where = ps.source or "performance"
    if ps.date > on:
        ignored.append(f"{where}: dated {ps.date}, after the assessment date {on}")
        return None
    if ps.date < on - timedelta(days=lookback):
        warnings.append(
            Warning(
                "data-quality",
                "warning",
                f"performance status from {ps.date} is older than the {lookback}-day look-back "
                f"window before {on}; treated as unknown",
                source=where,
            )
        )
        return None
    return ps
