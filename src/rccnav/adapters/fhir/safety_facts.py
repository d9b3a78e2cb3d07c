"""Safety facts: what makes a drug class unsafe, read from the resources EHRs use for it.

- **Immune-related adverse events** (irAEs): an ``AdverseEvent`` whose suspect is a
  checkpoint inhibitor (grade from the CTCAE grade extension), an
  ``AllergyIntolerance`` to a checkpoint inhibitor (manifestation = organ), a
  ``Condition`` such as myocarditis/colitis/hepatitis that the record says is a drug
  adverse effect or that began during or after a checkpoint-inhibitor course, and a
  checkpoint inhibitor stopped for toxicity (``statusReason``) with its grade.
- **Corticosteroids and other immunosuppressants** in current
  ``MedicationStatement``/``MedicationRequest`` records, the steroid dose as
  prednisone-equivalent mg/day (factors in terminology.yaml).
- **Chronic infections** (TB, hepatitis B/C, HIV) from Conditions and screening results.
- **Transplanted organs** (Conditions and Procedures), **autoimmune diseases** one by one,
  **hypercalcaemia**, **pathological / impending fracture**, **sickle haemoglobin**,
  **supplemental oxygen**, and the method behind a reported eGFR / creatinine clearance.

Nothing found is ``None`` (unknown), never ``False``: the absence of a record is
not evidence of absence. Every fact names the resources it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.conditions import condition_dates, earliest_sensible
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.observations import effective_date
from rccnav.adapters.fhir.therapy import (
    Episode,
    agents_in_text,
    medication_concepts,
    procedure_date,
)
from rccnav.adapters.fhir.values import (
    JSON,
    FhirDate,
    as_dict,
    as_number,
    as_str,
    codings,
    concept_texts,
    dicts,
    parse_date,
    period_end,
    period_start,
    reference_of,
    status_code,
)
from rccnav.core.case import (
    AutoimmuneCondition,
    AutoimmuneDisease,
    CheckpointClass,
    ImmuneAdverseEvent,
    InfectionStatus,
    IrAEOrgan,
    Labs,
    Measurement,
    RenalMethod,
    SickleStatus,
    TransplantOrgan,
)
from rccnav.knowledge.model import CHECKPOINT_CLASSES

SAFETY_TYPES = frozenset({"AdverseEvent", "AllergyIntolerance"})
_MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest")
_INACTIVE = frozenset({"inactive", "remission", "resolved"})
_DROPPED = frozenset({"entered-in-error", "refuted"})
_UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})
#: Value sets whose Conditions change treatment safety (read by _read_condition).
_SAFETY_CONDITION_SETS = (
    "immune-related-adverse-event",
    "infection",
    "transplant-organ",
    "autoimmune-disease",
    "autoimmune-other",
    "hypercalcaemia",
    "pathological-fracture",
    "hypoxia",
    "sickle-cell",
)
_CURRENT = frozenset({"active", "on-hold", "in-progress"})
_GRADE_TEXT = re.compile(r"\b(?:ctcae\s*)?(?:grade|gr\.?|g)\s*([1-5]|i{1,3}v?|iv|v)\b", re.I)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5}
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|µg|ug|g)\b", re.I)
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "mcg": 0.001, "ug": 0.001, "µg": 0.001}
_UNIT_DOSE = frozenset(
    {"tablet", "tablets", "tab", "{tbl}", "{tablet}", "capsule", "{capsule}", "1"}
)
_PER_DAY = {"s": 86400.0, "min": 1440.0, "h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30.4375}
_TIMING_CODES = {  # HL7 GTSAbbreviation codes -> administrations per day
    "QD": 1.0, "AM": 1.0, "PM": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "QOD": 0.5,
    "Q4H": 6.0, "Q6H": 4.0, "Q8H": 3.0, "Q12H": 2.0,
}  # fmt: skip
_REPLACEMENT_REASON = re.compile(
    r"adrenal insufficiency|addison|hypopituitar|hypoadrenal|replacement", re.I
)
# Each event is reported with its organ and grade; which grade bars, questions or cautions a
# rechallenge is the knowledge base's rule, applied in the core (decisions/safety_facts.py),
# never decided here.


@dataclass(slots=True)
class InfectionEvidence:
    kind: str  # condition-active, condition-past, antigen, antibody, viral-load
    result: str  # positive / negative / active / past / suppressed
    when: date | None
    source: str


@dataclass(slots=True)
class SafetyFindings:
    irae: list[ImmuneAdverseEvent] = field(default_factory=list)
    steroid_mg: dict[str, tuple[float | None, str]] = field(default_factory=dict)
    steroid_replacement: bool | None = None
    immunosuppressants: dict[str, str] = field(default_factory=dict)
    antiviral: str | None = None
    infections: dict[str, list[InfectionEvidence]] = field(default_factory=dict)
    organs: dict[TransplantOrgan, str] = field(default_factory=dict)
    autoimmune: list[AutoimmuneCondition] = field(default_factory=list)
    disease: dict[str, str] = field(default_factory=dict)
    supplemental_oxygen: str | None = None
    sickle: tuple[SickleStatus, str] | None = None


# ------------------------------------------------------------------- driver


def read_safety_facts(
    entries: list[Entry], ctx: ReadContext, episodes: list[Episode]
) -> SafetyFindings:
    """Read every safety fact from the patient's own resources (subject already checked)."""
    found = SafetyFindings()
    ici_courses = [e for e in episodes if ctx.kb.agent_class(e.agent) in CHECKPOINT_CLASSES]
    for entry in entries:
        rtype = entry.rtype
        if rtype == "Condition":
            _read_condition(entry, ctx, ici_courses, found)
        elif rtype == "Observation":
            _read_infection_test(entry, ctx, found)
        elif rtype == "Procedure":
            _read_transplant_procedure(entry, ctx, found)
        elif rtype == "AdverseEvent":
            _read_adverse_event(entry, ctx, ici_courses, found)
        elif rtype == "AllergyIntolerance":
            _read_allergy(entry, ctx, found)
        elif rtype in _MEDICATION_TYPES:
            _read_medication(entry, ctx, found)
    return found


# ------------------------------------------------------------- conditions


def _read_condition(
    entry: Entry, ctx: ReadContext, ici_courses: list[Episode], found: SafetyFindings
) -> None:
    resource = entry.resource
    verification = status_code(resource.get("verificationStatus"))
    if verification in _DROPPED:
        return
    code = resource.get("code")
    coded = _validly_coded(code, ctx)

    hits = ctx.matches(code)  # every value set the codes are in, looked up once

    def hit(value_set: str) -> str | None:
        return ctx.matched(value_set, code, hits, not coded)

    if verification in _UNCONFIRMED:
        # Neither counted nor silently dropped: an unconfirmed finding that would change
        # which treatments are safe is named, so it is confirmed before deciding.
        if any(hit(value_set) for value_set in _SAFETY_CONDITION_SETS):
            named = next(iter(concept_texts(code)), "condition")
            ctx.warn(
                f"{named} recorded as {verification}: not counted as a confirmed finding, "
                "but it would change which treatments are safe: confirm it before deciding",
                entry.source,
            )
        return

    clinical = status_code(resource.get("clinicalStatus"))
    inactive = clinical in _INACTIVE
    onset = earliest_sensible(condition_dates(resource, ctx), ctx)
    if onset is not None and onset.day > ctx.on:
        return
    organ = hit("immune-related-adverse-event")
    if organ:
        _condition_irae(entry, IrAEOrgan(organ), onset, ctx, ici_courses, found)
    infection = hit("infection")
    if infection:
        name, status = infection.split(":")
        kind = "condition-past" if inactive or status == "past" else "condition-active"
        _evidence(found, name, kind, status, onset, entry)
    organ_target = hit("transplant-organ")
    if organ_target:
        _transplant(organ_target, entry, found)
    disease = hit("autoimmune-disease")
    if disease:
        found.autoimmune.append(
            AutoimmuneCondition(
                disease=AutoimmuneDisease(disease),
                active=False if inactive else (True if clinical in (None, "active") else None),
                source=entry.source,
            )
        )
        entry.used = True
    other = hit("autoimmune-other")
    if other:
        name, active = other.split(":")
        found.autoimmune.append(
            AutoimmuneCondition(
                disease=AutoimmuneDisease(name),
                active={"false": False, "true": True}.get(active),
                source=entry.source,
            )
        )
        entry.used = True
    if inactive:
        return
    _disease_flags(entry, hit, onset, ctx, found)


def _validly_coded(concept: object, ctx: ReadContext) -> bool:
    """A coding from a known system, with a code of the right shape (SNOMED CT ids are
    digits; Synthea's CIEL-derived "112141AAAA..." in the SNOMED system is not)."""
    for system, code, _display in codings(concept):
        key = ctx.term.system_key(system)
        if key is None or code is None:
            continue
        if key != "snomed" or code.isdigit():
            return True
    return False


def _disease_flags(
    entry: Entry,
    hit: object,
    onset: FhirDate | None,
    ctx: ReadContext,
    found: SafetyFindings,
) -> None:
    assert callable(hit)
    if hit("hypercalcaemia") is not None:
        window = ctx.term.param("current_condition_days")
        if onset is None or onset.day >= ctx.on - timedelta(days=window):
            found.disease.setdefault("hypercalcaemia", entry.source)
            entry.used = True
        else:
            ctx.ignore(entry, f"hypercalcaemia recorded {onset.text}: not taken as current")
    if hit("pathological-fracture") is not None:
        found.disease.setdefault("pathological_fracture", entry.source)
        entry.used = True
    elif any(
        ctx.term.match_text("impending-fracture", t)
        for t in concept_texts(entry.resource.get("code"))
    ):
        found.disease.setdefault("impending_fracture", entry.source)
        entry.used = True
    if hit("supplemental-oxygen") is not None:
        found.supplemental_oxygen = found.supplemental_oxygen or entry.source
        entry.used = True
    if hit("hypoxia") is not None:
        entry.used = True
        ctx.warn(
            "hypoxaemia is recorded as a diagnosis; check a current resting SpO2",
            entry.source,
            "info",
        )
    sickle = hit("sickle-cell")
    if sickle:
        status = SickleStatus(sickle)
        if found.sickle is None or status is SickleStatus.DISEASE:
            found.sickle = (status, entry.source)
        entry.used = True


def _condition_irae(
    entry: Entry,
    organ: IrAEOrgan,
    onset: FhirDate | None,
    ctx: ReadContext,
    ici_courses: list[Episode],
    found: SafetyFindings,
) -> None:
    """An organ manifestation counts as an irAE when the record ties it to a drug or to ICI."""
    resource = entry.resource
    concepts = [resource.get("code"), *dicts(resource.get("category"))]
    concepts += [
        e.get("code") for e in dicts(resource.get("evidence")) for e in dicts(e.get("code"))
    ]
    stated = any(ctx.match_any("drug-adverse-effect", c) is not None for c in concepts) or any(
        ctx.term.match_text("drug-adverse-effect", as_str(n.get("text")) or "")
        for n in dicts(resource.get("note"))
    )
    during = _ici_at(onset.day if onset else None, ici_courses, ctx)
    if not stated and not during:
        return
    if not stated and during and organ in (IrAEOrgan.ENDOCRINE, IrAEOrgan.OTHER):
        return
    agents = tuple(sorted({c.agent for c in during}))
    grade = _grade(resource, ctx, entry)
    _add_irae(found, organ, grade, onset.day if onset else None, agents, None, entry)
    if not stated:
        ctx.warn(
            f"{organ.value} began during or after checkpoint-inhibitor therapy "
            f"({', '.join(agents)}): read as an immune-related adverse event; confirm",
            entry.source,
            "info",
        )


def _ici_at(day: date | None, courses: list[Episode], ctx: ReadContext) -> list[Episode]:
    if day is None:
        return []
    window = timedelta(days=ctx.term.param("irae_window_days"))
    return [
        c
        for c in courses
        if c.start is not None
        and c.start <= day
        and (c.ongoing or c.end is None or day <= c.end + window)
    ]


def _transplant(target: str, entry: Entry, found: SafetyFindings) -> None:
    for organ in target.split("+"):
        found.organs.setdefault(TransplantOrgan(organ), entry.source)
    entry.used = True


def _read_transplant_procedure(entry: Entry, ctx: ReadContext, found: SafetyFindings) -> None:
    resource = entry.resource
    code = resource.get("code")
    target = ctx.match("transplant-organ", code)
    if target is None and not ctx.has_known_system(code):
        target = ctx.match_any("transplant-organ", code)
    if not target:
        return
    status = status_code(resource.get("status"))
    if status not in (None, "completed"):
        ctx.ignore(entry, f"transplant procedure status {status}: not counted as done")
        return
    when = procedure_date(resource)
    if ctx.after_on(when):
        return
    _transplant(target, entry, found)


# ----------------------------------------------------------- irAE records


def _grade(resource: JSON, ctx: ReadContext, entry: Entry) -> int | None:
    """CTCAE grade: the CTCAE extension, a coded severity, then "grade N" in text."""
    for ext in dicts(resource.get("extension")):
        if ctx.term.has_profile("ctcae-grade-extension", [as_str(ext.get("url")) or ""]):
            target = ctx.match("ctcae-grade", ext.get("valueCodeableConcept"))
            if target:
                return int(target)
    for key in ("severity", "grade"):
        value = resource.get(key)
        target = ctx.match("ctcae-grade", value)
        if target:
            return int(target)
        texts = concept_texts(value) if not isinstance(value, str) else [value]
        for text in texts:
            graded = _grade_in_text(text)
            if graded is not None:
                return graded
            if re.search(r"life[- ]threatening", text, re.I):
                return 4
            if text.strip().lower() == "severe":
                ctx.warn(
                    "immune-related adverse event recorded as 'severe' (CTCAE grade 3 or "
                    "higher) without its grade; grade unknown",
                    entry.source,
                    "info",
                )
    return None


def _grade_in_text(text: str) -> int | None:
    match = _GRADE_TEXT.search(text)
    if match is None:
        return None
    raw = match.group(1).lower()
    return int(raw) if raw.isdigit() else _ROMAN.get(raw)


def _add_irae(
    found: SafetyFindings,
    organ: IrAEOrgan,
    grade: int | None,
    day: date | None,
    agents: tuple[str, ...],
    agent_class: CheckpointClass | None,
    entry: Entry,
) -> None:
    entry.used = True
    for number, known in enumerate(found.irae):
        if known.organ is organ and _same_time(known.date, day):
            # One event recorded twice (a Condition and an AdverseEvent): keep the worst grade.
            grades = [g for g in (known.grade, grade) if g is not None]
            found.irae[number] = known.model_copy(
                update={
                    "grade": max(grades) if grades else None,
                    "agents": tuple(sorted(set(known.agents) | set(agents))),
                    "source": f"{known.source}, {entry.source}",
                }
            )
            return
    event = ImmuneAdverseEvent(
        agents=agents,
        agent_class=agent_class,
        organ=organ,
        grade=grade,
        date=day,
        source=entry.source,
    )
    found.irae.append(event)


def _same_time(first: date | None, second: date | None) -> bool:
    if first is None or second is None:
        return True
    return abs((first - second).days) <= 31


def _checkpoint_agents(concepts: list[object], ctx: ReadContext) -> tuple[str, ...]:
    agents: list[str] = []
    for concept in concepts:
        for system, code, _display in codings(concept):
            hit = ctx.term.lookup("antineoplastic-agent", system, code)
            if hit is not None and hit.target and hit.target not in agents:
                agents.append(hit.target)
        for text in concept_texts(concept):
            for agent in agents_in_text(text, ctx):
                if agent not in agents:
                    agents.append(agent)
    return tuple(a for a in agents if ctx.kb.agent_class(a) in CHECKPOINT_CLASSES)


def _read_adverse_event(
    entry: Entry, ctx: ReadContext, ici_courses: list[Episode], found: SafetyFindings
) -> None:
    resource = entry.resource
    if as_str(resource.get("actuality")) == "potential":
        ctx.ignore(entry, "potential adverse event (near miss): not an event the patient had")
        return
    when = (
        parse_date(resource.get("date"))
        or parse_date(resource.get("detected"))
        or parse_date(resource.get("recordedDate"))
    )
    if ctx.after_on(when):
        return
    suspects: list[object] = []
    for suspect in dicts(resource.get("suspectEntity")):
        instance = as_dict(suspect.get("instance"))
        target = ctx.index.resolve_entry(reference_of(instance))
        if target is not None and target.rtype in (*_MEDICATION_TYPES, "MedicationAdministration"):
            suspects.extend(medication_concepts(target, ctx))
        elif target is not None and target.rtype == "Medication":
            suspects.append(target.resource.get("code"))
        elif instance is not None and as_str(instance.get("display")):
            suspects.append({"text": instance.get("display")})
    agents = _checkpoint_agents(suspects, ctx)
    event = resource.get("event")
    organ = ctx.match_any("immune-related-adverse-event", event)
    stated = ctx.match_any("drug-adverse-effect", event) is not None
    if not agents and not stated:
        during = _ici_at(when.day if when else None, ici_courses, ctx)
        if not during:
            return
        agents = tuple(sorted({c.agent for c in during}))
    _add_irae(
        found,
        IrAEOrgan(organ) if organ else IrAEOrgan.OTHER,
        _grade(resource, ctx, entry),
        when.day if when else None,
        agents,
        None,
        entry,
    )


def _read_allergy(entry: Entry, ctx: ReadContext, found: SafetyFindings) -> None:
    resource = entry.resource
    if status_code(resource.get("verificationStatus")) in _DROPPED:
        return
    agents = _checkpoint_agents([resource.get("code")], ctx)
    if not agents:
        return
    manifestations = [
        m
        for reaction in dicts(resource.get("reaction"))
        for m in dicts(reaction.get("manifestation"))
    ]
    if manifestations and all(
        ctx.match_any("hypersensitivity-reaction", m) is not None for m in manifestations
    ):
        entry.used = True
        ctx.warn(
            f"hypersensitivity / infusion reaction to {', '.join(agents)} recorded: not an "
            "immune-related adverse event; review before re-exposure",
            entry.source,
        )
        return
    organ = next(
        (
            target
            for m in manifestations
            if (target := ctx.match_any("immune-related-adverse-event", m))
        ),
        None,
    )
    grade = _grade(resource, ctx, entry)
    for reaction in dicts(resource.get("reaction")):
        grade = grade or _grade(reaction, ctx, entry)
        texts = [as_str(n.get("text")) or "" for n in dicts(reaction.get("note"))]
        texts.append(as_str(reaction.get("description")) or "")
        texts.extend(t for m in dicts(reaction.get("manifestation")) for t in concept_texts(m))
        for text in texts:
            grade = grade or _grade_in_text(text)
    when = (
        parse_date(resource.get("onsetDateTime"))
        or period_start(resource.get("onsetPeriod"))
        or parse_date(resource.get("recordedDate"))
    )
    if ctx.after_on(when):
        return
    _add_irae(
        found,
        IrAEOrgan(organ) if organ else IrAEOrgan.OTHER,
        grade,
        when.day if when else None,
        agents,
        None,
        entry,
    )


# ------------------------------------------------------------- medications


def _medication_status(entry: Entry, ctx: ReadContext) -> tuple[bool, FhirDate | None]:
    """(current?, stop date) for a MedicationStatement / MedicationRequest."""
    resource = entry.resource
    status = status_code(resource.get("status"))
    intent = status_code(resource.get("intent"))
    if entry.rtype == "MedicationRequest" and intent in ("proposal", "plan"):
        return False, None
    if entry.rtype == "MedicationRequest":
        period = None
        for dosage in dicts(resource.get("dosageInstruction")):
            timing = as_dict(dosage.get("timing"))
            repeat = as_dict(timing.get("repeat")) if timing else None
            period = repeat.get("boundsPeriod") if repeat else period
        validity = as_dict(resource.get("dispenseRequest"))
        period = period or (validity.get("validityPeriod") if validity else None)
    else:
        period = resource.get("effectivePeriod")
    start = period_start(period) or parse_date(resource.get("effectiveDateTime"))
    end = period_end(period)
    if start is not None and start.day > ctx.on:
        return False, None
    if end is not None and end.day < ctx.on:
        return False, end
    return status in _CURRENT, end


def _read_medication(entry: Entry, ctx: ReadContext, found: SafetyFindings) -> None:
    resource = entry.resource
    if status_code(resource.get("status")) in ("entered-in-error", "cancelled", "not-taken"):
        return
    concepts = medication_concepts(entry, ctx)
    agents = _checkpoint_agents(concepts, ctx)
    if agents:
        _stopped_for_toxicity(entry, agents, ctx, found)
        return
    current, _end = _medication_status(entry, ctx)
    steroid = _first_target("systemic-corticosteroid", concepts, ctx)
    if steroid is not None:
        _steroid(entry, steroid, concepts, current, ctx, found)
        return
    suppressant = _first_target("immunosuppressant", concepts, ctx)
    if suppressant is not None and current:
        found.immunosuppressants.setdefault(suppressant, entry.source)
        entry.used = True
        return
    if current and _first_target("antiviral-suppression", concepts, ctx, allow_empty=True):
        found.antiviral = found.antiviral or entry.source


def _first_target(
    value_set: str, concepts: list[object], ctx: ReadContext, allow_empty: bool = False
) -> str | None:
    for concept in concepts:
        target = ctx.match_any(value_set, concept)
        if target or (allow_empty and target is not None):
            return target or value_set
    return None


def _stopped_for_toxicity(
    entry: Entry, agents: tuple[str, ...], ctx: ReadContext, found: SafetyFindings
) -> None:
    resource = entry.resource
    reasons = [*dicts(resource.get("statusReason")), *dicts(resource.get("reasonCode"))]
    if not any(ctx.match_any("stop-reason", r) == "toxicity" for r in reasons):
        return
    organ = next(
        (t for r in reasons if (t := ctx.match_any("immune-related-adverse-event", r))), None
    )
    grade = next(
        (g for r in reasons for text in concept_texts(r) if (g := _grade_in_text(text))), None
    )
    grade = grade or _grade(resource, ctx, entry)
    stopped = period_end(resource.get("effectivePeriod")) or parse_date(
        resource.get("effectiveDateTime")
    )
    _add_irae(
        found,
        IrAEOrgan(organ) if organ else IrAEOrgan.OTHER,
        grade,
        stopped.day if stopped else None,
        agents,
        None,
        entry,
    )


def _steroid(
    entry: Entry,
    steroid: str,
    concepts: list[object],
    current: bool,
    ctx: ReadContext,
    found: SafetyFindings,
) -> None:
    resource = entry.resource
    dosages = list(dicts(resource.get("dosage"))) + list(dicts(resource.get("dosageInstruction")))
    routes = [d.get("route") for d in dosages] + [
        f for c in concepts if isinstance(c, dict) for f in [c.get("form")] if f
    ]
    names = [t for c in concepts for t in concept_texts(c)]
    if any(ctx.match_any("non-systemic-route", r) is not None for r in routes) or any(
        ctx.term.match_text("non-systemic-route", n) for n in names
    ):
        ctx.ignore(entry, f"{steroid}: not systemic (inhaled, topical or local use)")
        return
    if not current:
        return
    entry.used = True
    factor = ctx.term.prednisone_mg_per_mg.get(steroid)
    daily = _daily_mg(dosages, names)
    if daily is None or factor is None:
        ctx.warn(
            f"current systemic {steroid}: the daily dose cannot be read from the record; "
            "prednisone-equivalent dose unknown",
            entry.source,
        )
        found.steroid_mg.setdefault(steroid, (None, entry.source))
        return
    equivalent = round(daily * factor, 2)
    known = found.steroid_mg.get(steroid)
    if known is None or known[0] is None or equivalent > known[0]:
        found.steroid_mg[steroid] = (equivalent, entry.source)
    ctx.warn(
        f"{steroid} {daily:g} mg/day = {equivalent:g} mg/day prednisone equivalent",
        entry.source,
        "info",
    )
    replacement = (
        steroid == "hydrocortisone"
        and daily <= ctx.term.param("replacement_hydrocortisone_mg_per_day")
    ) or any(
        _REPLACEMENT_REASON.search(text)
        for r in dicts(resource.get("reasonCode"))
        for text in concept_texts(r)
    )
    if replacement:
        found.steroid_replacement = found.steroid_replacement is not False
    else:
        found.steroid_replacement = False


def _daily_mg(dosages: list[JSON], names: list[str]) -> float | None:
    """Total mg per day over the dosage lines; None when any part is unreadable."""
    if not dosages:
        return None
    total = 0.0
    for dosage in dosages:
        per_dose = _dose_mg(dosage, names)
        per_day = _per_day(dosage)
        if per_dose is None or per_day is None:
            return None
        total += per_dose * per_day
    return total


def _dose_mg(dosage: JSON, names: list[str]) -> float | None:
    for dose_rate in dicts(dosage.get("doseAndRate")):
        quantity = as_dict(dose_rate.get("doseQuantity"))
        if quantity is None:
            dose_range = as_dict(dose_rate.get("doseRange"))
            quantity = as_dict(dose_range.get("high")) if dose_range else None
        if quantity is None:
            continue
        value = as_number(quantity.get("value"))
        unit = (as_str(quantity.get("code")) or as_str(quantity.get("unit")) or "").strip()
        if value is None:
            return None
        if unit.lower() in _MASS_TO_MG:
            return value * _MASS_TO_MG[unit.lower()]
        if unit.lower() in _UNIT_DOSE or unit == "":
            strengths = {
                float(m.group(1)) * _MASS_TO_MG[m.group(2).lower()]
                for name in names
                for m in [_STRENGTH.search(name)]
                if m
            }
            return value * strengths.pop() if len(strengths) == 1 else None
        return None
    text = as_str(dosage.get("text")) or ""
    match = _STRENGTH.search(text)
    return float(match.group(1)) * _MASS_TO_MG[match.group(2).lower()] if match else None


def _per_day(dosage: JSON) -> float | None:
    timing = as_dict(dosage.get("timing"))
    if timing is not None:
        repeat = as_dict(timing.get("repeat"))
        if repeat is not None and as_number(repeat.get("frequency")) is not None:
            frequency = as_number(repeat.get("frequency")) or 0.0
            period = as_number(repeat.get("period")) or 1.0
            unit = as_str(repeat.get("periodUnit")) or "d"
            per_day = _PER_DAY.get(unit)
            return frequency * per_day / period if per_day and period > 0 else None
        for _system, code, _display in codings(timing.get("code")):
            if code and code.upper() in _TIMING_CODES:
                return _TIMING_CODES[code.upper()]
    text = (as_str(dosage.get("text")) or "").lower()
    if re.search(r"\b(once daily|daily|once a day|every day|qd|od)\b", text):
        return 1.0
    if re.search(r"\b(twice daily|twice a day|bid|bd)\b", text):
        return 2.0
    return None


# ------------------------------------------------------------- infections


def _evidence(
    found: SafetyFindings, name: str, kind: str, result: str, when: FhirDate | None, entry: Entry
) -> None:
    found.infections.setdefault(name, []).append(
        InfectionEvidence(kind, result, when.day if when else None, entry.source)
    )
    entry.used = True


def _read_infection_test(entry: Entry, ctx: ReadContext, found: SafetyFindings) -> None:
    resource = entry.resource
    if ctx.match("observation-kind", resource.get("code")) != "infection-test":
        return
    target = ctx.match("infection-test", resource.get("code"))
    if not target:
        return
    if status_code(resource.get("status")) not in ("final", "amended", "corrected", "appended"):
        ctx.ignore(entry, "infection screening result not final: not used")
        return
    when = effective_date(resource)
    if when is None or when.day > ctx.on:
        return
    name, kind = target.split(":")
    result = _test_result(resource, name, kind, ctx)
    if result is None:
        ctx.warn(f"{name.replace('_', ' ')} test result cannot be read; not used", entry.source)
        return
    _evidence(found, name, kind, result, when, entry)


def _test_result(resource: JSON, name: str, kind: str, ctx: ReadContext) -> str | None:
    quantity = as_dict(resource.get("valueQuantity"))
    if quantity is not None and kind == "viral-load":
        value = as_number(quantity.get("value"))
        comparator = as_str(quantity.get("comparator"))
        unit = (as_str(quantity.get("unit")) or as_str(quantity.get("code")) or "").lower()
        if value is None or "log" in unit:
            return None
        if comparator in ("<", "<=") or value == 0:
            return "negative"
        if name == "hiv":
            threshold = ctx.term.param("hiv_suppressed_copies_per_ml")
            return "suppressed" if value < threshold else "positive"
        return "positive"
    for concept in (resource.get("valueCodeableConcept"), *dicts(resource.get("interpretation"))):
        target = ctx.match_any("test-result", concept)
        if target:
            return target
    text = as_str(resource.get("valueString"))
    if text:
        hit = ctx.term.match_text("test-result", text)
        if hit is not None:
            return hit.target
        if kind == "viral-load" and text.strip().startswith("<"):
            return "negative"
    return None


def _latest(evidence: list[InfectionEvidence], kinds: tuple[str, ...]) -> InfectionEvidence | None:
    chosen = [e for e in evidence if e.kind in kinds]
    if not chosen:
        return None
    return max(chosen, key=lambda e: e.when or date.min)


def infection_statuses(
    found: SafetyFindings, ctx: ReadContext
) -> tuple[dict[str, InfectionStatus], dict[str, str]]:
    """Each infection's status from its evidence (rules in the Infections model docstring)."""
    statuses: dict[str, InfectionStatus] = {}
    sources: dict[str, str] = {}
    for name, evidence in found.infections.items():
        decided = _infection_status(name, evidence, ctx)
        if decided is None:
            continue
        status, source = decided
        statuses[name] = status
        sources[name] = source
    return statuses, sources


def _infection_status(
    name: str, evidence: list[InfectionEvidence], ctx: ReadContext
) -> tuple[InfectionStatus, str] | None:
    condition = _latest(evidence, ("condition-active", "condition-past"))
    antigen = _latest(evidence, ("antigen",))
    antibody = _latest(evidence, ("antibody",))
    load = _latest(evidence, ("viral-load",))
    infected = (condition is not None and condition.kind == "condition-active") or (
        antigen is not None and antigen.result == "positive"
    )
    if name == "tuberculosis":
        if condition is None:
            return None
        status = (
            InfectionStatus.ACTIVE if condition.kind == "condition-active" else InfectionStatus.PAST
        )
        return status, condition.source
    if load is not None and (infected or name == "hepatitis_c" or load.result == "positive"):
        if load.result == "positive":
            return InfectionStatus.ACTIVE, load.source
        if name == "hepatitis_c":
            return InfectionStatus.PAST, load.source
        return InfectionStatus.CONTROLLED, load.source
    if infected:
        source = condition.source if condition and condition.kind == "condition-active" else ""
        return InfectionStatus.ACTIVE, source or (antigen.source if antigen else "")
    if name == "hepatitis_c" and antibody is not None and antibody.result == "positive":
        ctx.warn(
            "hepatitis C antibody positive without an HCV RNA result: current infection unknown",
            antibody.source,
        )
        return None
    if condition is not None and condition.kind == "condition-past":
        return InfectionStatus.PAST, condition.source
    if name == "hepatitis_b" and antibody is not None and antibody.result == "positive":
        return InfectionStatus.PAST, antibody.source
    negatives = [e for e in (antigen, antibody) if e is not None and e.result == "negative"]
    if negatives and (name != "hepatitis_b" or antigen in negatives):
        return InfectionStatus.NONE, ", ".join(e.source for e in negatives)
    return None


# ------------------------------------------------------------- kidney labs


def renal_methods(labs: Labs, ctx: ReadContext) -> Labs:
    """Name the equation behind a reported eGFR and mark a measured creatinine clearance."""
    update: dict[str, RenalMethod] = {}
    if labs.egfr is not None and labs.egfr.source:
        entry = ctx.index.resolve_entry(labs.egfr.source)
        method = ctx.match("egfr-method", entry.resource.get("code")) if entry else None
        if method:
            update["egfr_method"] = RenalMethod(method)
    if labs.creatinine_clearance is not None:
        update["creatinine_clearance_method"] = RenalMethod.MEASURED
    return labs.model_copy(update=update) if update else labs


# ------------------------------------------------------------------ to Case


def comorbidity_facts(
    found: SafetyFindings, ctx: ReadContext
) -> tuple[dict[str, object], dict[str, str]]:
    """Comorbidities fields (values, sources) the safety findings fill; unknown ones are absent."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}

    def put(name: str, value: object, source: str) -> None:
        values[name] = value
        sources[name] = source

    if found.irae:
        put(
            "immune_related_adverse_events",
            tuple(found.irae),
            ", ".join(e.source for e in found.irae if e.source),
        )
    _steroid_facts(found, put)
    if found.immunosuppressants:
        put(
            "other_immunosuppressants",
            tuple(sorted(found.immunosuppressants)),
            ", ".join(dict.fromkeys(found.immunosuppressants.values())),
        )
    if found.organs:
        organs = tuple(sorted(found.organs, key=lambda o: o.value))
        source = ", ".join(dict.fromkeys(found.organs.values()))
        put("transplanted_organs", organs, source)
        put("organ_transplant", True, source)
    if found.autoimmune:
        merged: dict[AutoimmuneDisease, AutoimmuneCondition] = {}
        for item in found.autoimmune:
            known = merged.get(item.disease)
            if known is None or (item.active is True and known.active is not True):
                merged[item.disease] = item
        put(
            "autoimmune_diseases",
            tuple(merged.values()),
            ", ".join(dict.fromkeys(i.source or "" for i in merged.values())),
        )
        active = [i.source or "" for i in merged.values() if i.active is True]
        if active:
            put("active_autoimmune_disease", True, active[0])
    if found.sickle is not None:
        put("sickle_cell", found.sickle[0], found.sickle[1])
    return values, sources


def _steroid_facts(found: SafetyFindings, put: object) -> None:
    assert callable(put)
    if not found.steroid_mg:
        return
    doses = [dose for dose, _source in found.steroid_mg.values()]
    source = ", ".join(dict.fromkeys(s for _d, s in found.steroid_mg.values()))
    known = sum(d for d in doses if d is not None)
    if None not in doses:
        put("corticosteroid_prednisone_mg_per_day", round(known, 2), source)
        put("systemic_steroids_over_10mg", known > 10, source)
        if found.steroid_replacement is not None:
            put("corticosteroid_replacement_only", found.steroid_replacement, source)
    elif known > 10:
        # The unreadable dose only adds to what is already above the threshold.
        put("systemic_steroids_over_10mg", True, source)


def infections_fact(found: SafetyFindings, ctx: ReadContext) -> dict[str, object] | None:
    statuses, sources = infection_statuses(found, ctx)
    if not statuses:
        return None
    return {**{name: status for name, status in statuses.items()}, "sources": sources}


def disease_facts(found: SafetyFindings) -> dict[str, object]:
    values: dict[str, object] = {name: True for name in found.disease}
    if found.disease:
        values["sources"] = dict(found.disease)
    return values


def vitals_fact(measurements: dict[str, Measurement], found: SafetyFindings) -> dict[str, object]:
    values: dict[str, object] = dict(measurements)
    if found.supplemental_oxygen:
        values["supplemental_oxygen"] = True
    sources = [m.source for m in measurements.values()] + [found.supplemental_oxygen]
    listed = [s for s in sources if s]
    if listed:
        values["source"] = ", ".join(dict.fromkeys(listed))
    return values
