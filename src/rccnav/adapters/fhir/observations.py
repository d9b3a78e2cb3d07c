"""Observations: labs, performance status, germline findings, TNM M, pregnancy.

For each Case field the most recent usable result dated on or before the
assessment date is taken (the look-back window itself is applied by the core,
which warns when the chosen result is too old). Results dated later are listed
as ignored; unusable results newer than the chosen one (no unit, censored
value, unknown status...) become ``data-quality`` warnings; older results are
counted as not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.conflicts import Conflict
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.values import (
    JSON,
    FhirDate,
    as_dict,
    as_number,
    as_str,
    codings,
    concept_texts,
    dicts,
    last_possible_day,
    parse_date,
    period_end,
    period_start,
    status_code,
)
from rccnav.core.case import Gene, Labs, Measurement, PerformanceStatus, ResultStatus, Sex, Vitals
from rccnav.core.units import UnitProblem, conversion_factor

LAB_FIELDS = frozenset(Labs.model_fields)
# Vital signs read like labs (value, UCUM unit, date); kept apart from Labs.
VITAL_FIELDS = frozenset({"weight", "oxygen_saturation"}) & frozenset(Vitals.model_fields)
FINAL_STATUSES = frozenset({"final", "amended", "corrected", "appended"})
DROPPED_STATUSES = frozenset({"entered-in-error", "cancelled"})
UCUM = "http://unitsofmeasure.org"
_NUMBER = re.compile(r"^\s*([<>]=?|=)?\s*([-+]?\d+(?:[.,]\d+)?)\s*$")
_SCORE = re.compile(r"\b(\d{1,3})\b")
_GENE_STUDIED = "48018-6"
_GENOMIC_SOURCE = "48002-0"
_CLINICAL_SIGNIFICANCE = "53037-8"


@dataclass(slots=True)
class Candidate:
    """One result for a Case field: usable (``value``) or not (``problem``)."""

    entry: Entry
    when: FhirDate | None
    value: Measurement | int | None = None
    # A lab value read but not yet turned into a Measurement: reference ranges
    # are only worked out for the result that is chosen (most are superseded).
    pending: tuple[float, str, str | None] | None = None
    problem: str | None = None
    warn: bool = True
    final: bool = True
    # Labs are read lazily: only results newer than the chosen one are parsed.
    lab: str | None = None
    # Usable results of the same day as this chosen one (a same-day disagreement).
    same_day: list[Candidate] = field(default_factory=list)
    # A censored result (">20.0", valueQuantity.comparator): used only where decisive.
    comparator: str | None = None

    def sort_key(self) -> tuple[date, str, bool]:
        assert self.when is not None
        return self.when.day, self.when.text, self.final


@dataclass(slots=True)
class ObservationFindings:
    labs: dict[str, list[Candidate]] = field(default_factory=dict)
    kps: list[Candidate] = field(default_factory=list)
    ecog: list[Candidate] = field(default_factory=list)
    metastatic_stage: list[tuple[date, str]] = field(default_factory=list)
    germline_tested: list[str] = field(default_factory=list)
    germline_variants: dict[Gene, str] = field(default_factory=dict)
    pregnant: list[tuple[date, str]] = field(default_factory=list)


# ----------------------------------------------------------------- reading


def effective_date(resource: JSON) -> FhirDate | None:
    return (
        parse_date(resource.get("effectiveDateTime"))
        or period_end(resource.get("effectivePeriod"))
        or period_start(resource.get("effectivePeriod"))
        or parse_date(resource.get("effectiveInstant"))
    )


def read_observation(entry: Entry, ctx: ReadContext, found: ObservationFindings) -> None:
    resource = entry.resource
    kind = ctx.match("observation-kind", resource.get("code"))
    if kind is None:
        if not _read_panel(entry, ctx, found):
            _note_uncoded(entry, ctx)
        return
    status = status_code(resource.get("status"))
    if status in DROPPED_STATUSES:
        ctx.ignore(entry, f"status {status}: not used")
        return
    ctx.warn_invalid_dates(entry, ("effectiveDateTime", "effectiveInstant", "issued"))
    when = effective_date(resource)
    if when is None and entry.source in ctx.report_dates:
        # Panels often date only the DiagnosticReport that lists the results.
        when, report = ctx.report_dates[entry.source]
        report.used = True
        ctx.warn(f"{kind}: dated by {report.source} ({when.text})", entry.source, "info")
    if when is None and (issued := parse_date(resource.get("issued"))) is not None:
        when = issued
        ctx.warn(
            f"{kind}: no effective date; dated by its issue time {issued.text}",
            entry.source,
            "info",
        )
    if kind in LAB_FIELDS or kind in VITAL_FIELDS:
        found.labs.setdefault(kind, []).append(_lab_candidate(entry, kind, status, when, ctx))
    elif kind in ("kps", "ecog"):
        getattr(found, kind).append(_score_candidate(entry, kind, status, when, ctx))
    elif kind == "tnm-m":
        _read_m_category(entry, when, ctx, found)
    elif kind == "genetic-variant":
        _read_variant(entry, status, ctx, found)
    elif (
        kind == "pregnancy-status"
        and when is not None
        and not ctx.after_on(when)
        and ctx.match("pregnancy", resource.get("valueCodeableConcept")) is not None
    ):
        found.pregnant.append((when.day, entry.source))
        entry.used = True


#: Elements a panel component carries for itself (the rest comes from the panel).
_COMPONENT_KEYS = (
    "code",
    "valueQuantity",
    "valueString",
    "valueInteger",
    "valueDecimal",
    "valueCodeableConcept",
    "dataAbsentReason",
    "referenceRange",
    "interpretation",
)


def _read_panel(entry: Entry, ctx: ReadContext, found: ObservationFindings) -> bool:
    """A panel sent as one Observation with components (a CBC: haemoglobin, neutrophils,
    platelets...): each component we know is read as a result of its own, with the panel's
    status and date, and named ``Observation/id component N``."""
    components = list(dicts(entry.resource.get("component")))
    parts = [
        (number, component)
        for number, component in enumerate(components, start=1)
        if ctx.match("observation-kind", component.get("code")) is not None
    ]
    if not parts:
        return False
    shared = {k: v for k, v in entry.resource.items() if k not in ("component", *_COMPONENT_KEYS)}
    for number, component in parts:
        resource = {**shared, **{k: component[k] for k in _COMPONENT_KEYS if k in component}}
        part = Entry(
            resource, "Observation", f"{entry.source} component {number}", entry.position, None
        )
        if entry.source in ctx.report_dates:
            ctx.report_dates[part.source] = ctx.report_dates[entry.source]
        read_observation(part, ctx, found)
    entry.used = True
    ctx.warn(f"panel read by component ({len(parts)} of {len(components)})", entry.source, "info")
    return True


def _note_uncoded(entry: Entry, ctx: ReadContext) -> None:
    """A result named like one of ours but coded in a local or unknown system."""
    code = entry.resource.get("code")
    if any(ctx.term.system_key(system) == "loinc" for system, _c, _d in codings(code)):
        return
    for text in concept_texts(code):
        hit = ctx.term.match_text("observation-kind", text)
        if hit is not None:
            systems = sorted({system or "no system" for system, _c, _d in codings(code)}) or [
                "no coding"
            ]
            ctx.warn(
                f"{text!r} looks like {hit.target} but is not LOINC-coded ({', '.join(systems)}); "
                "not used",
                entry.source,
            )
            return


def _system_keys(concept: object, ctx: ReadContext) -> list[str]:
    return [key for system, _c, _d in codings(concept) if (key := ctx.term.system_key(system))]


def _status_problem(status: str | None) -> tuple[bool, str | None]:
    """(final?, problem) for an Observation status."""
    if status in FINAL_STATUSES:
        return True, None
    if status == "preliminary":
        return False, None
    return True, f"status {status or 'missing'}: no usable result"


# -------------------------------------------------------------------- labs


def _lab_candidate(
    entry: Entry, lab: str, status: str | None, when: FhirDate | None, ctx: ReadContext
) -> Candidate:
    final, problem = _status_problem(status)
    candidate = Candidate(entry, when, final=final)
    if problem is not None:
        candidate.problem, candidate.warn = f"{lab}: {problem}", status != "registered"
        return candidate
    if when is None:
        candidate.problem = f"{lab}: no date; not used"
        return candidate
    candidate.lab = lab
    return candidate


def _evaluate(candidate: Candidate, ctx: ReadContext) -> None:
    lab = candidate.lab
    if lab is None:
        return
    candidate.lab = None
    value = _lab_value(candidate.entry.resource, lab, ctx)
    if isinstance(value, str):
        candidate.problem = value
        candidate.warn = not value.endswith("(no value)")
    else:
        number, unit, note = value
        if note is not None and note.startswith(_CENSORED):
            candidate.comparator = note.removeprefix(_CENSORED)
            note = None
        candidate.pending = number, unit, note


def _measurement(candidate: Candidate, lab: str, ctx: ReadContext) -> Measurement:
    assert candidate.pending is not None and candidate.when is not None
    number, unit, note = candidate.pending
    entry = candidate.entry
    if note:
        ctx.warn(note, entry.source, "info")
    low, high = _reference_limits(entry, lab, unit, candidate.when, ctx)
    return Measurement(
        value=number,
        unit=unit,
        date=candidate.when.day,
        low=low,
        high=high,
        status=ResultStatus.FINAL if candidate.final else ResultStatus.PRELIMINARY,
        source=entry.source,
    )


def _absent_and_valued(resource: JSON, what: str) -> str | None:
    """FHIR obs-6: a dataAbsentReason only without a value; both at once contradict."""
    if resource.get("dataAbsentReason") is None:
        return None
    if not any(key.startswith("value") and resource[key] is not None for key in resource):
        return None
    absent = concept_texts(resource.get("dataAbsentReason"))
    reason = f" ({absent[0]})" if absent else ""
    return (
        f"{what}: both a value and a data-absent reason{reason}: the record contradicts "
        "itself; not used"
    )


def _lab_value(resource: JSON, lab: str, ctx: ReadContext) -> tuple[float, str, str | None] | str:
    """(value, UCUM unit, note) or why the result cannot be used."""
    contradiction = _absent_and_valued(resource, lab)
    if contradiction is not None:
        return contradiction
    quantity = as_dict(resource.get("valueQuantity"))
    if quantity is not None:
        number = as_number(quantity.get("value"))
        if number is None:
            return f"{lab}: valueQuantity has no numeric value"
        comparator = as_str(quantity.get("comparator"))
        if comparator not in (None, "<", "<=", ">", ">="):
            return f"{lab}: value {comparator}{number:g} is not a measured value; not used"
        unit = _quantity_unit(quantity, ctx)
        if unit is None:
            return f"{lab}: value {number:g} has no unit; not used"
        return number, unit, (_CENSORED + comparator) if comparator else None
    text = as_str(resource.get("valueString"))
    raw = text if text is not None else resource.get("valueInteger")
    if raw is None and "valueDecimal" in resource:
        raw = resource.get("valueDecimal")
    if raw is None:
        absent = concept_texts(resource.get("dataAbsentReason"))
        reason = f" ({absent[0]})" if absent else ""
        return f"{lab}: no value{reason} (no value)"
    parsed = _number_from_text(str(raw))
    if isinstance(parsed, str):
        return f"{lab}: {parsed}"
    unit = _range_unit(resource, ctx)
    if unit is None:
        return f"{lab}: value {raw!s} given without a unit; not used"
    number, comparator = parsed
    if comparator:
        return number, unit, _CENSORED + comparator
    return (
        number,
        unit,
        f"{lab}: value {raw!s} given as text; unit {unit} taken from its reference range",
    )


_CENSORED = "censored:"


def _number_from_text(text: str) -> tuple[float, str | None] | str:
    """(number, comparator or None) from text such as ``12.1`` or ``>20.0``."""
    match = _NUMBER.match(text)
    if match is None:
        return f"value {text!r} is not a number; not used"
    comparator = match.group(1) if match.group(1) and match.group(1) != "=" else None
    return float(match.group(2).replace(",", ".")), comparator


def _quantity_unit(quantity: JSON, ctx: ReadContext) -> str | None:
    code = as_str(quantity.get("code"))
    system = as_str(quantity.get("system"))
    if code and (system is None or system == UCUM):
        return ctx.term.ucum_unit(code)
    unit = as_str(quantity.get("unit"))
    return ctx.term.ucum_unit(unit) if unit else None


def _range_unit(resource: JSON, ctx: ReadContext) -> str | None:
    units = {
        unit
        for ref in dicts(resource.get("referenceRange"))
        for bound in ("low", "high")
        if (q := as_dict(ref.get(bound))) is not None and (unit := _quantity_unit(q, ctx))
    }
    return units.pop() if len(units) == 1 else None


# --------------------------------------------------------- reference ranges


def _reference_limits(
    entry: Entry, lab: str, unit: str, when: FhirDate, ctx: ReadContext
) -> tuple[float | None, float | None]:
    """The lab's own LLN/ULN in ``unit``, from the reference range that applies to this patient."""
    ranges = [r for r in dicts(entry.resource.get("referenceRange")) if _is_normal_range(r, ctx)]
    if not ranges:
        return None, None
    age = _age_years(ctx.birth_date, when.day)
    scored: list[tuple[int, JSON]] = []
    undecidable = 0
    for ref in ranges:
        fit = _applies(ref, ctx.sex, age, ctx)
        if fit is None:
            undecidable += 1
        elif fit >= 0:
            scored.append((fit, ref))
    if not scored:
        why = (
            "the patient's sex or age is unknown"
            if undecidable
            else "none matches the patient's sex/age"
        )
        ctx.warn(
            f"{lab}: {len(ranges)} reference range(s) given but {why}; default limits used",
            entry.source,
        )
        return None, None
    best = max(score for score, _ in scored)
    chosen = [ref for score, ref in scored if score == best]
    limits = {_limits(ref, lab, unit, entry, ctx) for ref in chosen}
    if len(limits) > 1:
        ctx.warn(
            f"{lab}: {len(chosen)} different reference ranges apply equally; default limits used",
            entry.source,
        )
        return None, None
    low, high = limits.pop()
    if low is not None and high is not None and low > high:
        ctx.warn(
            f"{lab}: reference range low {low:g} is above high {high:g}; not used", entry.source
        )
        return None, None
    return low, high


def _is_normal_range(ref: JSON, ctx: ReadContext) -> bool:
    kind = ref.get("type")
    if kind is None:
        return True
    return any(code == "normal" for _system, code, _d in codings(kind))


def _applies(ref: JSON, sex: Sex | None, age: float | None, ctx: ReadContext) -> int | None:
    """-1 not for this patient, None cannot tell, else how many criteria it matched."""
    score = 0
    for concept in dicts(ref.get("appliesTo")):
        wanted = ctx.match_any("sex-code", concept)
        if not wanted:
            return None  # a criterion we cannot check (race, pregnancy, ...)
        if sex is None or sex is Sex.OTHER:
            return None
        if wanted != sex.value:
            return -1
        score += 1
    age_range = as_dict(ref.get("age"))
    if age_range is not None:
        if age is None:
            return None
        low = _years(as_dict(age_range.get("low")))
        high = _years(as_dict(age_range.get("high")))
        if (low is not None and age < low) or (high is not None and age > high):
            return -1
        score += 1
    return score


def _years(quantity: JSON | None) -> float | None:
    if quantity is None:
        return None
    value = as_number(quantity.get("value"))
    if value is None:
        return None
    unit = as_str(quantity.get("code")) or as_str(quantity.get("unit")) or "a"
    per_year = {
        "a": 1.0,
        "yr": 1.0,
        "year": 1.0,
        "years": 1.0,
        "mo": 12.0,
        "wk": 52.1775,
        "d": 365.25,
    }
    return value / per_year.get(unit, 1.0)


def _age_years(birth: date | None, on: date) -> float | None:
    if birth is None:
        return None
    return (on - birth).days / 365.25


def _limits(
    ref: JSON, lab: str, unit: str, entry: Entry, ctx: ReadContext
) -> tuple[float | None, float | None]:
    return (
        _limit(as_dict(ref.get("low")), "lower", lab, unit, entry, ctx),
        _limit(as_dict(ref.get("high")), "upper", lab, unit, entry, ctx),
    )


def _limit(
    quantity: JSON | None, kind: str, lab: str, unit: str, entry: Entry, ctx: ReadContext
) -> float | None:
    if quantity is None:
        return None
    value = as_number(quantity.get("value"))
    if value is None:
        return None
    own_unit = _quantity_unit(quantity, ctx)
    if own_unit is None:
        # A limit without a unit is read in the result's unit only where it fits it: a
        # haemoglobin of 125 g/L with a range "13-17" (g/dL) must not become 13 g/L.
        if _fits_unit(value, kind, lab, unit, ctx):
            return value
        ctx.warn(
            f"{lab}: reference {kind} limit {value:g} has no unit and does not fit the "
            f"result's unit {unit}; not used (default limits apply)",
            entry.source,
        )
        return None
    if own_unit == unit:
        return value
    analyte = ctx.kb.analytes.get(lab)
    molar_mass = analyte.molar_mass_g_per_mol if analyte else None
    factor = conversion_factor(own_unit, unit, molar_mass)
    if isinstance(factor, UnitProblem):
        ctx.warn(
            f"{lab}: reference limit in {own_unit} cannot be converted to {unit}; not used",
            entry.source,
        )
        return None
    return round(value * factor, 6)


#: How far a lab's limit may lie from the knowledge base's default limit and still be
#: taken to share the result's unit (laboratory ranges differ by far less; unit mix-ups
#: differ by 10x or more: g/L vs g/dL, mmol/L vs mg/dL, /uL vs 10*9/L).
_UNITLESS_LIMIT_RATIO = 2.0


def _fits_unit(value: float, kind: str, lab: str, unit: str, ctx: ReadContext) -> bool:
    """Whether a unitless limit ``value``, read in ``unit``, is a plausible limit."""
    analyte = ctx.kb.analytes.get(lab)
    if analyte is None:
        return True  # nothing to check it against (vital signs): read as before
    factor = conversion_factor(unit, analyte.canonical_unit, analyte.molar_mass_g_per_mol)
    if isinstance(factor, UnitProblem):
        return False
    canonical = value * factor
    defaults = [d for d in ctx.kb.default_limits if d.analyte == lab and d.limit == kind]
    if defaults:
        return any(
            d.low / _UNITLESS_LIMIT_RATIO <= canonical <= d.high * _UNITLESS_LIMIT_RATIO
            for d in defaults
        )
    low, high = analyte.plausible_range
    return low <= canonical <= high


# ------------------------------------------------------- performance status


def _score_candidate(
    entry: Entry, kind: str, status: str | None, when: FhirDate | None, ctx: ReadContext
) -> Candidate:
    final, problem = _status_problem(status)
    candidate = Candidate(entry, when, final=final)
    if problem is not None:
        candidate.problem = f"{kind.upper()}: {problem}"
        return candidate
    if when is None:
        candidate.problem = f"{kind.upper()}: no date; not used"
        return candidate
    score = _score(entry.resource, kind, ctx)
    top = 100 if kind == "kps" else 5
    contradiction = _absent_and_valued(entry.resource, kind.upper())
    if contradiction is not None:
        candidate.problem = contradiction
    elif score is None:
        candidate.problem = f"{kind.upper()}: no readable score; not used"
    elif not 0 <= score <= top or (kind == "kps" and score % 10):
        candidate.problem = f"{kind.upper()} {score} is not a valid score; not used"
    else:
        candidate.value = score
    return candidate


def _score(resource: JSON, kind: str, ctx: ReadContext) -> int | None:
    for key in ("valueInteger", "valueDecimal"):
        number = as_number(resource.get(key))
        if number is not None and number == int(number):
            return int(number)
    quantity = as_dict(resource.get("valueQuantity"))
    if quantity is not None:
        number = as_number(quantity.get("value"))
        if number is not None and number == int(number):
            return int(number)
    answers = "kps-answer" if kind == "kps" else "ecog-answer"
    for concept in (resource.get("valueCodeableConcept"), *dicts(resource.get("interpretation"))):
        for system, code, _d in codings(concept):
            from_list = _answer(answers, system, code, ctx)
            if from_list is not None:
                return from_list
    text = as_str(resource.get("valueString"))
    for candidate_text in ([text] if text else []) + concept_texts(
        resource.get("valueCodeableConcept")
    ):
        match = _SCORE.search(candidate_text)
        if match:
            return int(match.group(1))
    return None


def _answer(value_set: str, system: str | None, code: str | None, ctx: ReadContext) -> int | None:
    found = ctx.term.lookup(value_set, system, code)
    if found is not None and found.target is not None:
        return int(found.target)
    if code is not None and code.isdigit():
        return int(code)
    return None


# ------------------------------------------------------------------ others


def _read_m_category(
    entry: Entry, when: FhirDate | None, ctx: ReadContext, found: ObservationFindings
) -> None:
    if when is None or ctx.after_on(when):
        return
    values = [code or "" for _s, code, _d in codings(entry.resource.get("valueCodeableConcept"))]
    values += concept_texts(entry.resource.get("valueCodeableConcept"))
    if any(re.search(r"M1", value) for value in values):
        found.metastatic_stage.append((when.day, entry.source))
        entry.used = True


def _read_variant(
    entry: Entry, status: str | None, ctx: ReadContext, found: ObservationFindings
) -> None:
    """A germline pathogenic variant in a hereditary-RCC gene (reference §6.3)."""
    if status not in FINAL_STATUSES and status != "preliminary":
        return
    gene: str | None = None
    origin: str | None = None
    significance: str | None = None
    for component in dicts(entry.resource.get("component")):
        code = {c for _s, c, _d in codings(component.get("code"))}
        value = component.get("valueCodeableConcept")
        if _GENE_STUDIED in code:
            gene = ctx.match("hereditary-rcc-gene", value) or _gene_from_text(value, ctx)
        elif _GENOMIC_SOURCE in code:
            origin = ctx.match_any("genomic-source-class", value)
        elif _CLINICAL_SIGNIFICANCE in code:
            significance = ctx.match("variant-present", value)
    if not gene:
        return
    present = ctx.match("variant-present", entry.resource.get("valueCodeableConcept"))
    if origin == "somatic":
        return  # a tumour (somatic) VHL variant is common in clear-cell RCC and not hereditary
    if origin != "germline":
        ctx.warn(
            f"{gene} variant reported without its genomic source (germline or somatic); "
            "hereditary status unknown",
            entry.source,
            "info",
        )
        return
    entry.used = True
    found.germline_tested.append(entry.source)
    if "true" in (present, significance):
        found.germline_variants.setdefault(Gene(gene), entry.source)


def _gene_from_text(value: object, ctx: ReadContext) -> str | None:
    for text in concept_texts(value):
        hit = ctx.term.match_text("hereditary-rcc-gene", text.strip())
        if hit is not None:
            return hit.target
    return None


# --------------------------------------------------------------- selection


def choose(candidates: list[Candidate], label: str, ctx: ReadContext) -> Candidate | None:
    """The most recent usable candidate on or before ``ctx.on``; report the others."""
    current: list[Candidate] = []
    for candidate in candidates:
        if candidate.when is None:
            if candidate.problem:
                ctx.warn(candidate.problem, candidate.entry.source)
        elif candidate.when.day > ctx.on:
            ctx.ignore(
                candidate.entry,
                f"{label} dated {candidate.when.text}, after the assessment date {ctx.on}",
            )
        else:
            current.append(candidate)
    current.sort(key=Candidate.sort_key, reverse=True)
    chosen: Candidate | None = None
    superseded = 0
    for candidate in current:
        if chosen is not None:
            assert chosen.when is not None and candidate.when is not None
            # Same day, or a month/year date whose days reach the chosen one's: either may
            # be the most recent, so they compete as same-day results do (never a guess).
            if _last_day(candidate, ctx) >= chosen.when.day:
                _evaluate(candidate, ctx)
                if candidate.value is not None or candidate.pending is not None:
                    candidate.entry.used = True
                    chosen.same_day.append(candidate)
                    continue
            superseded += 1
            continue
        _evaluate(candidate, ctx)
        if candidate.value is not None or candidate.pending is not None:
            chosen = candidate
            chosen.entry.used = True
        elif candidate.problem and candidate.warn:
            ctx.warn(candidate.problem, candidate.entry.source)
        elif candidate.problem:
            ctx.ignore(candidate.entry, candidate.problem)
    if chosen is not None and superseded:
        ctx.ignored.append(
            f"{label}: {superseded} earlier result(s) superseded by {chosen.entry.source}"
        )
    return chosen


_MAY_BE_LATEST = "results that may be the most recent (a date given only as a month or year)"


def _last_day(candidate: Candidate, ctx: ReadContext) -> date:
    """The last day a candidate's date can stand for (a month or year is an interval)."""
    assert candidate.when is not None
    return min(last_possible_day(candidate.when), ctx.on)


def select_labs(found: ObservationFindings, ctx: ReadContext) -> Labs:
    return Labs(**_select_measurements(found, ctx, LAB_FIELDS))


def select_vitals(found: ObservationFindings, ctx: ReadContext) -> dict[str, Measurement]:
    """Body weight and SpO2: the most recent usable value, as for labs."""
    return _select_measurements(found, ctx, VITAL_FIELDS)


def _select_measurements(
    found: ObservationFindings, ctx: ReadContext, fields: frozenset[str]
) -> dict[str, Measurement]:
    chosen: dict[str, Measurement] = {}
    for lab, candidates in found.labs.items():
        if lab not in fields:
            continue
        best = choose(candidates, lab, ctx)
        if best is not None and best.pending is not None:
            chosen[lab] = _measurement(best, lab, ctx)
            if best.comparator is not None and lab in LAB_FIELDS:
                ctx.conflicts.append(_censored(chosen[lab], best.comparator, lab, ctx))
            rivals = [_measurement(c, lab, ctx) for c in best.same_day if c.pending is not None]
            conflict = _conflict(lab, [chosen[lab], *rivals]) if rivals else None
            days = {c.when.day for c in (best, *best.same_day) if c.when is not None}
            if conflict is not None and len(days) > 1:
                conflict = replace(conflict, wording=_MAY_BE_LATEST)
            if conflict is not None and lab in LAB_FIELDS:
                ctx.conflicts.append(conflict)
    return chosen


def _censored(measured: Measurement, comparator: str, lab: str, ctx: ReadContext) -> Conflict:
    """The censored value's bound against the furthest plausible value beyond it.

    Factors compare a value with a threshold, so if both ends give the same answer every
    value in between does: the result is then decisive whatever its true value. A strict
    comparator (``>20``) is tried just beyond its bound, so ``>ULN`` reads as above it.
    """
    bound = measured.value
    above = comparator.startswith(">")
    nudge = 0.0 if "=" in comparator else 1e-6 * (abs(bound) or 1.0)
    near = bound + nudge if above else bound - nudge
    analyte = ctx.kb.analytes.get(lab)
    far = near
    if analyte is not None:
        low, high = analyte.plausible_range
        factor = conversion_factor(
            analyte.canonical_unit, measured.unit, analyte.molar_mass_g_per_mol
        )
        if not isinstance(factor, UnitProblem):
            far = (high if above else low) * factor
    candidates = (
        measured.model_copy(update={"value": near}),
        measured.model_copy(update={"value": max(far, near) if above else min(far, near)}),
    )
    shown = f"{comparator}{bound:g} {measured.unit} ({measured.source})"
    return Conflict(lab, candidates, (shown,), kind="censored")


def _shown(value: Measurement | PerformanceStatus) -> str:
    if isinstance(value, Measurement):
        return f"{value.value:g} {value.unit} ({value.source})"
    score = f"KPS {value.kps}" if value.kps is not None else f"ECOG {value.ecog}"
    return f"{score} ({value.source})"


def _conflict(field_name: str, values: list[Measurement | PerformanceStatus]) -> Conflict | None:
    """A conflict when the same-day values differ in anything but their source."""
    distinct = {v.model_copy(update={"source": None}) for v in values}
    if len(distinct) < 2:
        return None
    return Conflict(field_name, tuple(values), tuple(_shown(v) for v in values))


def _status(candidate: Candidate, kind: str) -> PerformanceStatus:
    assert candidate.when is not None and isinstance(candidate.value, int)
    return PerformanceStatus(
        kps=candidate.value if kind == "kps" else None,
        ecog=candidate.value if kind == "ecog" else None,
        date=candidate.when.day,
        source=candidate.entry.source,
    )


def _performance_conflict(kps: Candidate | None, ecog: Candidate | None, ctx: ReadContext) -> None:
    """Same-day KPS values that differ, ECOG values that differ, or a KPS outside the KPS
    range of a same-day ECOG (rule prognosis.ecog-to-kps), such as KPS 90 with ECOG 2."""
    found: list[tuple[PerformanceStatus, date]] = []
    for chosen, kind in ((kps, "kps"), (ecog, "ecog")):
        if chosen is not None:
            found += [
                (_status(c, kind), _last_day(c, ctx))
                for c in (chosen, *chosen.same_day)
                if c.value is not None
            ]
    latest = max(v.date for v, _last in found if v.date is not None)
    # Older ones are simply superseded; a month/year date reaching the latest day competes.
    values = [v for v, last in found if v.date == latest or last >= latest]
    scores_kps = {v.kps for v in values if v.kps is not None}
    scores_ecog = {v.ecog for v in values if v.ecog is not None}
    compatible = len(scores_kps) <= 1 and len(scores_ecog) <= 1
    if compatible and scores_kps and scores_ecog:
        (kps_value,), (ecog_value,) = scores_kps, scores_ecog
        low = ctx.kb.param("prognosis.ecog-to-kps", f"ecog{ecog_value}_kps_low")
        high = ctx.kb.param("prognosis.ecog-to-kps", f"ecog{ecog_value}_kps_high")
        compatible = low <= kps_value <= high
    if compatible:
        return
    values.sort(key=lambda v: v.kps is None)  # the reader's pick (KPS wins a tie) first
    conflict = _conflict("performance", list(values))
    if conflict is not None and len({v.date for v in values}) > 1:
        conflict = replace(conflict, wording=_MAY_BE_LATEST)
    if conflict is not None:
        ctx.conflicts.append(conflict)


def select_performance(found: ObservationFindings, ctx: ReadContext) -> PerformanceStatus | None:
    """The most recent of KPS and ECOG; on the same day KPS wins (it settles ECOG 1, §3.3)."""
    kps = choose(found.kps, "KPS", ctx)
    ecog = choose(found.ecog, "ECOG", ctx)
    if kps is None and ecog is None:
        return None
    _performance_conflict(kps, ecog, ctx)
    use_kps = kps is not None and (ecog is None or kps.sort_key()[0] >= ecog.sort_key()[0])
    picked = kps if use_kps else ecog
    other = ecog if use_kps else kps
    assert picked is not None and picked.when is not None and isinstance(picked.value, int)
    if other is not None:
        other.entry.used = False
        ctx.ignore(
            other.entry, f"superseded by the more recent performance status {picked.entry.source}"
        )
    return PerformanceStatus(
        kps=picked.value if use_kps else None,
        ecog=None if use_kps else picked.value,
        date=picked.when.day,
        source=picked.entry.source,
    )
