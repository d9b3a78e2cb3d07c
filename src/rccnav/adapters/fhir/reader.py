"""Read one patient's FHIR R4 / mCODE data into a :class:`~rccnav.core.case.Case`.

``read_fhir`` accepts a Bundle (any type), NDJSON, a JSON array of resources or
a single resource. It walks plain dicts from orjson (``fhir.resources`` models
are about ten times slower and are only used to validate what rccnav writes).
What each code means comes from ``knowledge/data/terminology.yaml``.

Every fact in the Case names the resource it came from (``Observation/abc``);
every resource in the input is counted as used or not used by type. The input
as a whole is rejected (:class:`InputError`, exit status 2) when it is not FHIR,
holds no Patient or several, refers to a resource the mapping needs that is not
there, or has no renal cell carcinoma diagnosis. Problems with single items
inside a good input are ``data-quality`` warnings and the item is unknown.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rccnav.adapters.errors import InputError
from rccnav.adapters.fhir.bundle import (
    Entry,
    ResourceIndex,
    gc_paused,
    index_document,
    read_resources,
    remove_entries,
)
from rccnav.adapters.fhir.conditions import ConditionFindings, earliest_sensible, read_condition
from rccnav.adapters.fhir.conflicts import settle
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.lesions import (
    LesionFindings,
    apply_lesions,
    disease_status,
    read_lesion_facts,
    with_best_response,
)
from rccnav.adapters.fhir.observations import (
    ObservationFindings,
    effective_date,
    read_observation,
    select_labs,
    select_performance,
    select_vitals,
)
from rccnav.adapters.fhir.safety_facts import (
    SAFETY_TYPES,
    SafetyFindings,
    comorbidity_facts,
    disease_facts,
    infections_fact,
    read_safety_facts,
    renal_methods,
    vitals_fact,
)
from rccnav.adapters.fhir.subject import SubjectRule, Whose
from rccnav.adapters.fhir.therapy import (
    MedicationFindings,
    ProcedureFindings,
    group_lines,
    proposed_therapy,
    read_medication,
    read_procedure,
)
from rccnav.adapters.fhir.tumour import other_cancer_warning
from rccnav.adapters.fhir.values import (
    JSON,
    as_str,
    dicts,
    last_possible_day,
    parse_date,
    reference_of,
    status_code,
)
from rccnav.core.assessment import InputSummary, Warning
from rccnav.core.case import (
    Case,
    Comorbidities,
    Diagnosis,
    Disease,
    Germline,
    Histology,
    Infections,
    Metastasis,
    PrimaryTumour,
    Sex,
    Vitals,
)
from rccnav.knowledge.model import KnowledgeBase
from rccnav.knowledge.terminology import Terminology, default_terminology

if TYPE_CHECKING:
    from rccnav.adapters.intake import Intake

# Resource types the safety-facts reader looks at (after subject integrity is checked).
_SAFETY_READ = SAFETY_TYPES | {"Procedure", "BodyStructure"}
MEDICATION_TYPES = frozenset(
    {"MedicationRequest", "MedicationAdministration", "MedicationStatement", "MedicationDispense"}
)


_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def read_fhir(
    data: bytes | dict[str, Any],
    *,
    name: str,
    on: date,
    lookback_days: int | None,
    kb: KnowledgeBase,
    terminology: Terminology | None = None,
) -> Intake:
    """Map FHIR input to an :class:`Intake` (Case, warnings, ignored items, summary).

    ``data`` is the raw bytes (JSON or NDJSON) or a JSON document already decoded.
    """
    if not isinstance(data, bytes):
        index = index_document(data, "json", name)
        return read_index(
            index, name=name, on=on, lookback_days=lookback_days, kb=kb, terminology=terminology
        )
    with gc_paused(len(data)):  # decode and mapping alike: see intake.read_input
        return read_index(
            read_resources(data, name),
            name=name,
            on=on,
            lookback_days=lookback_days,
            kb=kb,
            terminology=terminology,
        )


def read_index(
    index: ResourceIndex,
    *,
    name: str,
    on: date,
    lookback_days: int | None,
    kb: KnowledgeBase,
    terminology: Terminology | None = None,
) -> Intake:
    """Map already-indexed resources (the CDS Hooks service indexes its prefetch itself)."""
    from rccnav.adapters.intake import Intake

    window = (
        lookback_days
        if lookback_days is not None
        else int(kb.param("prognosis.lab-lookback", "days"))
    )
    ctx = ReadContext(index, terminology or default_terminology(), kb, on, window)
    patient = _the_patient(index, name)
    _set_aside_ambiguous_copies(index, patient, ctx, name)
    ctx.set_aside = set_aside_others(index, patient, ctx)
    _read_patient(patient, ctx)
    case = _map(index, patient, ctx, name)
    patient_id = patient.resource.get("id")
    return Intake(
        case=case,
        warnings=tuple(ctx.warnings),
        ignored=tuple(ctx.ignored),
        summary=_summary(index),
        patient_reference=f"Patient/{patient_id}"
        if isinstance(patient_id, str) and _FHIR_ID.match(patient_id)
        else None,
    )


# ------------------------------------------------------------------ patient


def _the_patient(index: ResourceIndex, name: str) -> Entry:
    patients = [entry for entry in index.entries if entry.rtype == "Patient"]
    if not patients:
        raise InputError(
            "no Patient resource: rccnav needs the patient's FHIR data as one Bundle or "
            "NDJSON file including the Patient",
            where=name,
        )
    if len(patients) > 1:
        # Positions, never ids: a Patient id may be a medical record number.
        places = ", ".join(entry.position for entry in patients[:5])
        raise InputError(
            f"{len(patients)} different Patient resources ({places}); "
            "rccnav reads one patient at a time",
            where=name,
        )
    patient = patients[0]
    patient.used = True
    return patient


def _read_patient(patient: Entry, ctx: ReadContext) -> None:
    resource = patient.resource
    gender = as_str(resource.get("gender"))
    if gender in ("male", "female", "other"):
        ctx.sex = Sex(gender)
    birth = parse_date(resource.get("birthDate"))
    if birth is not None:
        ctx.birth_date = birth.day
    if resource.get("deceasedBoolean") is True or "deceasedDateTime" in resource:
        ctx.warn("the Patient is recorded as deceased", "Patient", "warning")


def _set_aside_ambiguous_copies(
    index: ResourceIndex, patient: Entry, ctx: ReadContext, name: str
) -> None:
    """Two different copies of one resource (same type and id): which is right is unknown,
    so neither is read. Identical copies are read once, with a note."""
    for text in index.duplicates:
        source, _, rest = text.partition(": ")
        ctx.warn(f"{rest} (an identical copy of the same resource)", source, "info")
    index.duplicates = []
    ambiguous: dict[int, Entry] = {}
    for first, position in index.conflicting:
        if first is patient:
            raise InputError(
                f"two different copies of the Patient ({first.position} and {position}); "
                "rccnav cannot tell which is right",
                where=name,
            )
        if id(first) not in ambiguous:
            ambiguous[id(first)] = first
            ctx.warn(
                f"two different copies of this resource ({first.position} and {position}): "
                "which is right is unknown, so neither is used",
                first.source,
            )
    remove_entries(index, list(ambiguous.values()))


#: At most this many resources are named one by one; the rest are counted.
_NAMED_FOREIGN = 20


def set_aside_others(index: ResourceIndex, patient: Entry, ctx: ReadContext) -> int:
    """Remove every resource that is not this patient's from the index, with a warning.

    Removed resources cannot be read or reached through a reference by any mapping
    step. Returns how many were set aside.
    """
    rule = SubjectRule(patient.resource, patient.full_url)
    removed: list[tuple[Entry, str]] = []
    foreign: set[int] = set()
    for entry in index.entries:
        if entry is patient:
            continue
        verdict = rule.judge(entry.resource, entry.full_url)
        if verdict.whose not in (Whose.THIS_PATIENT, Whose.SHARED):
            removed.append((entry, verdict.why))
            if verdict.whose is Whose.ANOTHER_PATIENT:
                foreign.add(id(entry))
    if foreign:
        removed.extend(_in_foreign_encounters(index, foreign, {id(e) for e, _why in removed}))
    if not removed:
        return 0
    remove_entries(index, [entry for entry, _why in removed])
    for number, (entry, why) in enumerate(removed):
        if number < _NAMED_FOREIGN:
            ctx.warn(f"not used: not shown to be this patient's data ({why})", entry.source)
    if len(removed) > _NAMED_FOREIGN:
        ctx.warn(
            f"{len(removed) - _NAMED_FOREIGN} more resources not used: not shown to be "
            "this patient's data",
            None,
        )
    return len(removed)


#: Elements that place a resource in an encounter or episode (R4 names).
_ENCOUNTER_KEYS = ("encounter", "context")


def _in_foreign_encounters(
    index: ResourceIndex, foreign: set[int], removed: set[int]
) -> list[tuple[Entry, str]]:
    """Resources recorded in an Encounter of another patient: their own subject says this
    patient, the encounter says another; the record contradicts itself, so not used."""
    found: list[tuple[Entry, str]] = []
    for entry in index.entries:
        if id(entry) in removed:
            continue
        for key in _ENCOUNTER_KEYS:
            reference = reference_of(entry.resource.get(key))
            target = index.resolve_entry(reference) if reference else None
            if target is not None and id(target) in foreign:
                found.append((entry, f"its {key} {target.source} is another patient's"))
                break
    return found


# ------------------------------------------------------------------ mapping


def _map(index: ResourceIndex, patient: Entry, ctx: ReadContext, name: str) -> Case:
    conditions = ConditionFindings()
    observations = ObservationFindings()
    procedures = ProcedureFindings()
    medications = MedicationFindings()
    readers: dict[str, Callable[[Entry], None]] = {
        "Condition": lambda e: read_condition(e, ctx, conditions),
        "Observation": lambda e: read_observation(e, ctx, observations),
    }
    _index_report_dates(index, ctx)
    later: list[Entry] = []
    own: list[Entry] = []
    for entry in index.entries:
        if entry is patient:
            continue
        withdrawn = _withdrawn(entry.resource)
        if withdrawn is not None:
            ctx.ignore(entry, f"{withdrawn}: not used")
            continue
        if entry.rtype in readers or entry.rtype in MEDICATION_TYPES or entry.rtype in _SAFETY_READ:
            own.append(entry)
        reader = readers.get(entry.rtype)
        if reader is not None:
            reader(entry)
        elif entry.rtype == "Procedure" or entry.rtype in MEDICATION_TYPES:
            later.append(entry)
    for entry in later:  # procedures need the metastases; lines need the dates
        if entry.rtype == "Procedure":
            read_procedure(entry, ctx, conditions, procedures)
        else:
            read_medication(entry, ctx, medications)
    safety = read_safety_facts(own, ctx, medications.episodes)
    lesions = read_lesion_facts(own, ctx)
    return _assemble(
        conditions, observations, procedures, medications, (safety, lesions), ctx, name, patient
    )


def _withdrawn(resource: JSON) -> str | None:
    """Any resource type: recorded in error, so it says nothing about the patient."""
    for key in ("status", "verificationStatus"):
        if status_code(resource.get(key)) == "entered-in-error":
            return f"{key} entered-in-error"
    return None


def _index_report_dates(index: ResourceIndex, ctx: ReadContext) -> None:
    for entry in index.entries:
        if entry.rtype != "DiagnosticReport" or _withdrawn(entry.resource) is not None:
            continue
        report = entry.resource
        when = effective_date(report) or parse_date(report.get("issued"))
        if when is None:
            continue
        for result in dicts(report.get("result")):
            target = index.resolve_entry(reference_of(result))
            if target is not None:
                ctx.report_dates.setdefault(target.source, (when, entry))


def _assemble(
    conditions: ConditionFindings,
    observations: ObservationFindings,
    procedures: ProcedureFindings,
    medications: MedicationFindings,
    facts: tuple[SafetyFindings, LesionFindings],
    ctx: ReadContext,
    name: str,
    patient: Entry,
) -> Case:
    safety, lesions = facts
    diagnosis = _diagnosis(conditions, observations, procedures, ctx, name)
    nephrectomy_date = _nephrectomy_date(procedures)
    removed = bool(procedures.nephrectomies)
    primary = _primary_tumour(removed, nephrectomy_date, procedures, conditions, ctx)
    primary = _primary_from_lesions(primary, lesions)
    metastases = apply_lesions(
        _treated(conditions, procedures), conditions.metastasis_conditions, lesions, ctx
    )
    status = disease_status(lesions, metastases, diagnosis.metastasis_date is not None, ctx)
    disease_flags = disease_facts(safety)
    disease_flags["sources"] = {
        **disease_flags.get("sources", {}),  # type: ignore[dict-item]
        **status.pop("sources", {}),  # type: ignore[dict-item]
    }
    try:
        case = Case(
            case_id=_opaque_id(patient),
            sex=ctx.sex,
            birth_date=ctx.birth_date,
            diagnosis=diagnosis,
            germline=_germline(observations),
            performance=select_performance(observations, ctx),
            labs=renal_methods(select_labs(observations, ctx), ctx),
            vitals=Vitals.model_validate(vitals_fact(select_vitals(observations, ctx), safety)),
            primary_tumour=primary,
            disease=Disease(
                metastases=metastases,
                spinal_cord_compression=True if conditions.cord_compression else None,
                **disease_flags,
                **status,
            ),
            prior_therapies=with_best_response(
                group_lines(medications.episodes, ctx, nephrectomy_date, diagnosis.metastasis_date),
                lesions,
                ctx,
            ),
            proposed_therapy=proposed_therapy(medications),
            comorbidities=_comorbidities(conditions, observations, safety, ctx),
        )
    except ValidationError as exc:
        raise InputError(f"the FHIR data do not make a consistent case: {exc}", where=name) from exc
    return settle(case, ctx)


def _primary_from_lesions(primary: PrimaryTumour, lesions: LesionFindings) -> PrimaryTumour:
    update: dict[str, object] = {}
    sources = [primary.source] if primary.source else []
    if lesions.primary_resectable is not None:
        update["resectable"] = lesions.primary_resectable[0]
        sources.append(lesions.primary_resectable[1])
    if lesions.renal_share is not None:
        update["renal_share_of_burden"] = lesions.renal_share[0]
        sources.append(lesions.renal_share[1])
    if not update:
        return primary
    return primary.model_copy(update={**update, "source": ", ".join(dict.fromkeys(sources))})


def _opaque_id(patient: Entry) -> str:
    """A stable pseudonym for the patient: never the id itself (it may be an MRN)."""
    digest = hashlib.sha256(f"{patient.full_url}|{patient.source}".encode()).hexdigest()
    return f"fhir-{digest[:12]}"


def _diagnosis(
    conditions: ConditionFindings,
    observations: ObservationFindings,
    procedures: ProcedureFindings,
    ctx: ReadContext,
    name: str,
) -> Diagnosis:
    if not conditions.primaries and conditions.non_rcc:
        tumour_source, what = conditions.non_rcc[0]
        raise InputError(
            f"the kidney cancer is {what}, not renal cell carcinoma; rccnav assesses "
            "metastatic renal cell carcinoma only, and this tumour is staged and treated "
            "differently",
            where=tumour_source,
        )
    if conditions.non_rcc:
        ctx.warnings.append(
            Warning(
                "second-primary-cancer",
                "critical",
                "a kidney tumour that is not renal cell carcinoma is also recorded: "
                + "; ".join(f"{what} ({where})" for where, what in conditions.non_rcc)
                + ". Metastases may come from either cancer: confirm their origin before "
                "relying on the RCC assessment.",
                source=conditions.non_rcc[0][0],
            )
        )
    if conditions.other_cancers:
        ctx.warnings.append(
            Warning(
                "second-primary-cancer",
                "critical" if any(c.active for c in conditions.other_cancers) else "warning",
                other_cancer_warning(conditions.other_cancers),
                source=conditions.other_cancers[0].source,
            )
        )
    if not conditions.primaries:
        raise InputError(
            "no renal cell carcinoma diagnosis: no Condition coded as kidney cancer "
            "(ICD-10 C64, ICD-O-3 / SNOMED CT renal cell carcinoma) or named renal cell "
            "carcinoma; rccnav assesses metastatic RCC only"
            + (
                f" ({ctx.set_aside} resources were set aside as not this patient's data)"
                if ctx.set_aside
                else ""
            ),
            where=name,
        )
    dated = [
        (found, primary.entry.source)
        for primary in conditions.primaries
        if (found := earliest_sensible(primary.dates, ctx, primary.entry.source)) is not None
    ]
    if not dated:
        later = [
            (d.day, primary.entry.source)
            for primary in conditions.primaries
            for d in primary.dates
            if d.day > ctx.on
        ]
        if later:
            day, where = min(later)
            raise InputError(
                f"the assessment date {ctx.on} is before the RCC diagnosis ({day}); "
                "check both dates",
                where=where,
            )
    diagnosed, source = min(dated, key=lambda item: item[0].day) if dated else (None, None)
    if diagnosed is None and procedures.nephrectomies:
        # Reference §1.4: the diagnosis is usually the histology or nephrectomy date.
        earliest = [d for d, _s in procedures.nephrectomies if d is not None]
        if earliest:
            day = min(earliest)
            ctx.warn(
                f"RCC diagnosis date not recorded; the nephrectomy date {day} is used", None, "info"
            )
            return _diagnosis_with(
                conditions, ctx, day, procedures.nephrectomies[0][1], observations
            )
    if diagnosed is None:
        ctx.warn(
            "date of the initial RCC diagnosis not recorded (onset/recorded/asserted date)",
            conditions.primaries[0].entry.source,
        )
    elif not diagnosed.precise:
        last = min(last_possible_day(diagnosed), ctx.on)
        ctx.warn(
            f"RCC diagnosis date given only as {diagnosed.text!r}: any day from "
            f"{diagnosed.day} to {last}; where that changes a factor, the factor is unknown",
            source,
            "info",
        )
    diagnosis = _diagnosis_with(
        conditions,
        ctx,
        diagnosed.day if diagnosed else None,
        source or conditions.primaries[0].entry.source,
        observations,
    )
    if diagnosed is not None and not diagnosed.precise:
        last = min(last_possible_day(diagnosed), ctx.on)
        if last > diagnosed.day:
            diagnosis = diagnosis.model_copy(update={"date_latest": last})
    return diagnosis


def _diagnosis_with(
    conditions: ConditionFindings,
    ctx: ReadContext,
    day: date | None,
    source: str,
    observations: ObservationFindings,
) -> Diagnosis:
    histologies = {p.histology for p in conditions.primaries if p.histology is not None}
    histology: Histology | None = None
    if len(histologies) == 1:
        histology = histologies.pop()
    elif len(histologies) > 1:
        ctx.warn(
            "primary cancer Conditions disagree on histology "
            f"({', '.join(sorted(h.value for h in histologies))}); "
            "histology treated as unknown",
            ", ".join(p.entry.source for p in conditions.primaries),
        )
    else:
        ctx.warn(
            "RCC histology not specified (no subtype morphology): "
            "treated as unknown, not as clear cell",
            conditions.primaries[0].entry.source,
            "info",
        )
    sarcomatoid = True if any(p.sarcomatoid for p in conditions.primaries) else None
    metastasis_dates = [d for d, _s in conditions.metastasis_dates] + [
        d for d, _s in observations.metastatic_stage
    ]
    # The earliest metastasis date may be a month or year: its last possible day is the
    # smallest last day among all of them.
    latest = [conditions.metastasis_latest.get(s, d) for d, s in conditions.metastasis_dates]
    latest += [d for d, _s in observations.metastatic_stage]
    first = min(metastasis_dates) if metastasis_dates else None
    last = min(latest) if latest else None
    return Diagnosis(
        date=day,
        histology=histology,
        sarcomatoid=sarcomatoid,
        metastasis_date=first,
        metastasis_date_latest=last if first and last and last > first else None,
        source=source,
    )


def _nephrectomy_date(procedures: ProcedureFindings) -> date | None:
    dated = [d for d, _s in procedures.nephrectomies if d is not None]
    return max(dated) if dated else None


def _primary_tumour(
    removed: bool,
    nephrectomy_date: date | None,
    procedures: ProcedureFindings,
    conditions: ConditionFindings,
    ctx: ReadContext,
) -> PrimaryTumour:
    source = None
    if removed:
        latest = [s for d, s in procedures.nephrectomies if d == nephrectomy_date]
        source = latest[0] if latest else procedures.nephrectomies[0][1]
    bleeding = pain = None
    if not removed:
        # Haematuria and flank pain point at the primary only while it is in place.
        bleeding = True if conditions.haematuria else None
        pain = True if conditions.flank_pain else None
        source = conditions.haematuria or conditions.flank_pain
    else:
        for symptom in (conditions.haematuria, conditions.flank_pain):
            if symptom:
                ctx.ignored.append(
                    f"{symptom}: symptom recorded, but the primary tumour was removed"
                )
    return PrimaryTumour(
        in_place=False if removed else None,
        nephrectomy_date=nephrectomy_date,
        bleeding=bleeding,
        pain=pain,
        source=source,
    )


def _treated(
    conditions: ConditionFindings, procedures: ProcedureFindings
) -> tuple[Metastasis, ...]:
    """Mark metastases that a radiotherapy or resection Procedure names as treated."""
    treated_indexes = {
        index
        for source in procedures.treated_conditions
        for index in conditions.metastasis_conditions.get(source, [])
    }
    result: list[Metastasis] = []
    for number, metastasis in enumerate(conditions.metastases):
        if number in treated_indexes or metastasis.site in procedures.treated_sites:
            metastasis = metastasis.model_copy(update={"treated": True})
        result.append(metastasis)
    return tuple(result)


def _germline(observations: ObservationFindings) -> Germline:
    if not observations.germline_tested:
        return Germline()
    variants = tuple(observations.germline_variants)
    source = ", ".join(dict.fromkeys(observations.germline_tested))
    return Germline(tested=True, pathogenic_variants=variants, source=source)


def _comorbidities(
    conditions: ConditionFindings,
    observations: ObservationFindings,
    safety: SafetyFindings,
    ctx: ReadContext,
) -> Comorbidities:
    flags = dict(conditions.comorbidities)
    if observations.pregnant and "pregnancy" not in flags:
        flags["pregnancy"] = observations.pregnant[-1][1]
    values: dict[str, object] = {name: True for name in flags}
    extra, extra_sources = comorbidity_facts(safety, ctx)
    values.update(extra)
    flags.update({k: v for k, v in extra_sources.items() if k not in flags})
    infections = infections_fact(safety, ctx)
    # Nothing known: the one shared empty value (models are frozen), not the field's
    # default, which pydantic deep-copies for every patient.
    values["infections"] = infections if infections is not None else _NO_INFECTIONS
    return Comorbidities.model_validate({**values, "sources": flags})


_NO_INFECTIONS = Infections()


_NAMES_A_MEDICATION = frozenset(
    {"MedicationStatement", "MedicationAdministration", "MedicationRequest", "MedicationDispense"}
)


def _count_referenced_medications(index: ResourceIndex) -> None:
    """A Medication resource is read through the statement, administration, order or
    dispense that names it (and its ingredients through it): it was used when they were."""
    pending = [
        entry.resource.get("medicationReference")
        for entry in index.entries
        if entry.used and entry.rtype in _NAMES_A_MEDICATION
    ]
    while pending:
        target = index.resolve_entry(reference_of(pending.pop()))
        if target is None or target.rtype != "Medication" or target.used:
            continue
        target.used = True
        pending.extend(
            item.get("itemReference") for item in dicts(target.resource.get("ingredient"))
        )


def _summary(index: ResourceIndex) -> InputSummary:
    _count_referenced_medications(index)
    used: dict[str, int] = {}
    unused: dict[str, int] = dict(index.uncounted)
    for entry in index.entries:
        counts = used if entry.used else unused
        counts[entry.rtype] = counts.get(entry.rtype, 0) + 1
    return InputSummary(
        kind=index.kind, used=dict(sorted(used.items())), unused=dict(sorted(unused.items()))
    )
