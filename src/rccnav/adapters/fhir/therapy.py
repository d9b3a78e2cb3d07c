"""Procedures (nephrectomy, metastasectomy, radiotherapy) and medications.

Medications become therapy *episodes* (one agent, a start and an end), then:
repeated orders or administrations of one agent with gaps of at most
``course_gap_days`` merge into one course; courses of different agents that
start within ``regimen_start_window_days`` of each other, or that truly
overlap (one starts while another is still running, by more than that window),
form one regimen. A regimen stopped for progression on any agent is stopped for
progression. Holds longer than ``course_gap_days`` and maintenance recorded as a
separate order come out as separate regimens here; the core counts them as one
line of therapy (rule ``therapy.line-of-therapy``), the same way for case files.
Drafts and proposals are the proposed therapy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from rccnav.adapters.errors import InputError
from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.conditions import ConditionFindings, site_of
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.values import (
    JSON,
    FhirDate,
    as_dict,
    as_str,
    codings,
    concept_texts,
    dicts,
    last_possible_day,
    parse_date,
    period_end,
    period_start,
    profiles_of,
    reference_of,
    status_code,
)
from rccnav.core.case import PriorTherapy, ProposedTherapy, Site, StopReason, TherapySetting
from rccnav.knowledge.model import AgentClass

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_MAX_NGRAM = 4
NOT_A_LINE = frozenset({AgentClass.BONE_TARGETED})

# Which statuses mean what, per resource type (FHIR R4 value sets).
_PRIOR = {"completed", "stopped"}
_ONGOING = {"active", "in-progress", "on-hold"}
_DROPPED = {"entered-in-error", "cancelled", "not-done", "not-taken", "revoked"}


# --------------------------------------------------------------- procedures


@dataclass(slots=True)
class ProcedureFindings:
    nephrectomies: list[tuple[date | None, str]] = field(default_factory=list)
    treated_conditions: set[str] = field(default_factory=set)
    treated_sites: set[Site] = field(default_factory=set)


def procedure_date(resource: JSON) -> FhirDate | None:
    return (
        parse_date(resource.get("performedDateTime"))
        or period_end(resource.get("performedPeriod"))
        or period_start(resource.get("performedPeriod"))
    )


def read_procedure(
    entry: Entry, ctx: ReadContext, conditions: ConditionFindings, found: ProcedureFindings
) -> None:
    resource = entry.resource
    code = resource.get("code")
    profiles = profiles_of(resource)
    nephrectomy = _procedure_kind(code, "nephrectomy", ctx)
    radiation = _procedure_kind(code, "radiotherapy", ctx) or ctx.term.has_profile(
        "radiation-procedure", profiles
    )
    named_metastasectomy = _procedure_kind(code, "metastasectomy", ctx)
    surgical = ctx.term.has_profile("surgical-procedure", profiles)
    if not (nephrectomy or radiation or named_metastasectomy or surgical):
        return
    status = status_code(resource.get("status"))
    if status not in (None, "completed"):
        ctx.ignore(entry, f"procedure status {status}: not counted as done")
        return
    when = procedure_date(resource)
    if ctx.after_on(when):
        assert when is not None
        ctx.ignore(entry, f"performed {when.text}, after the assessment date {ctx.on}")
        return
    if nephrectomy:
        if when is None:
            ctx.warn(
                "nephrectomy without a date: primary taken as removed, date unknown",
                entry.source,
                "info",
            )
        found.nephrectomies.append((when.day if when else None, entry.source))
        entry.used = True
        return
    targets = _treated_metastases(entry, conditions, ctx)
    if radiation or named_metastasectomy or targets:
        entry.used = True
        conditions_hit, sites = targets
        found.treated_conditions |= conditions_hit
        found.treated_sites |= sites


def _procedure_kind(code: object, value_set: str, ctx: ReadContext) -> bool:
    if ctx.match(value_set, code) is not None:
        return True
    return any(ctx.term.match_text(value_set, text) for text in concept_texts(code))


def _treated_metastases(
    entry: Entry, conditions: ConditionFindings, ctx: ReadContext
) -> tuple[set[str], set[Site]]:
    """Metastases a local treatment names: by reasonReference, else by bodySite."""
    hit: set[str] = set()
    for reason in dicts(entry.resource.get("reasonReference")):
        target = ctx.index.resolve_entry(reference_of(reason))
        if target is not None and target.source in conditions.metastasis_conditions:
            hit.add(target.source)
    if hit:
        return hit, set()
    sites: set[Site] = {
        s
        for s in site_of(entry.resource.get("bodySite"), ctx)
        if s is not Site.CONTRALATERAL_KIDNEY
    }
    return set(), sites


# -------------------------------------------------------------- medications


@dataclass(slots=True)
class Episode:
    agent: str
    start: date | None
    end: date | None
    ongoing: bool
    source: str
    stop_reason: StopReason | None = None
    adjuvant: bool = False
    #: Last possible day of a start/end recorded only as a month or a year.
    start_latest: date | None = None
    end_latest: date | None = None


@dataclass(slots=True)
class MedicationFindings:
    episodes: list[Episode] = field(default_factory=list)
    proposed: list[tuple[str, date | None, str]] = field(default_factory=list)


def read_medication(entry: Entry, ctx: ReadContext, found: MedicationFindings) -> None:
    resource = entry.resource
    agents = _agents(entry, ctx)
    cancer_related = ctx.term.has_profile("cancer-related-medication", profiles_of(resource))
    if not agents:
        if cancer_related:
            names = _medication_names(entry, ctx) or ["(no name)"]
            ctx.warn(
                f"cancer-related medication {names[0]!r} is not in the knowledge base; not used",
                entry.source,
            )
        return
    category = _category(entry)
    if category == "dropped":
        ctx.ignore(entry, f"status {status_code(resource.get('status'))}: not used")
        return
    if category == "unknown":
        ctx.warn(
            f"{', '.join(agents)}: medication status "
            f"{status_code(resource.get('status')) or 'missing'} "
            "cannot be placed as given or proposed; not used",
            entry.source,
        )
        return
    if category == "proposed":
        planned = _planned_start(entry)
        for agent in agents:
            found.proposed.append((agent, planned.day if planned else None, entry.source))
        entry.used = True
        return
    start, end = _medication_period(entry)
    if start is not None and start.day > ctx.on:
        ctx.ignore(entry, f"starts {start.text}, after the assessment date {ctx.on}")
        return
    bone = [a for a in agents if ctx.kb.agent_class(a) in NOT_A_LINE]
    if bone:
        ctx.ignore(entry, f"{', '.join(bone)}: bone-targeted agent, not a line of systemic therapy")
    agents = [a for a in agents if a not in bone]
    if not agents:
        return
    if start is None:
        ctx.warn(
            f"{', '.join(agents)} has no start date: counted as a prior line; "
            "line grouping may be wrong",
            entry.source,
        )
    # A completed/stopped record without an end date ended at an unknown date.
    ongoing = category == "ongoing" or (end is not None and end.day > ctx.on)
    stop = _stop_reason(resource, ctx)
    adjuvant = _adjuvant(resource, ctx)
    start_latest = _partial(start, "start", agents, entry, ctx)
    end_latest = None if ongoing else _partial(end, "end", agents, entry, ctx)
    for agent in agents:
        found.episodes.append(
            Episode(
                agent=agent,
                start=start.day if start else None,
                end=None if ongoing or end is None else end.day,
                ongoing=ongoing,
                source=entry.source,
                stop_reason=stop,
                adjuvant=adjuvant,
                start_latest=start_latest,
                end_latest=end_latest,
            )
        )
    entry.used = True


def _partial(
    when: FhirDate | None, what: str, agents: list[str], entry: Entry, ctx: ReadContext
) -> date | None:
    """The last day a month/year date can stand for (None when it is a full date)."""
    if when is None or when.precise:
        return None
    last = min(last_possible_day(when), ctx.on)
    if last <= when.day:
        return None
    ctx.warn(
        f"{', '.join(agents)}: {what} date given only as {when.text!r}: any day from "
        f"{when.day} to {last}; where that changes a factor or the line history, it is unknown",
        entry.source,
        "info",
    )
    return last


def _category(entry: Entry) -> str:
    resource = entry.resource
    status = status_code(resource.get("status"))
    intent = status_code(resource.get("intent"))
    if status in _DROPPED:
        return "dropped"
    rtype = entry.rtype
    proposal = intent in ("proposal", "plan") and status in ("active", "on-hold", None)
    if rtype == "MedicationRequest" and (status == "draft" or proposal):
        return "proposed"
    if rtype == "MedicationStatement" and status == "intended":
        return "proposed"
    if rtype == "MedicationDispense":
        return (
            "prior"
            if status == "completed"
            else ("proposed" if status == "preparation" else "unknown")
        )
    if status in _PRIOR:
        return "prior"
    if status in _ONGOING:
        return "ongoing"
    return "unknown"


def _medication_period(entry: Entry) -> tuple[FhirDate | None, FhirDate | None]:
    resource = entry.resource
    if entry.rtype in ("MedicationAdministration", "MedicationStatement"):
        when = parse_date(resource.get("effectiveDateTime"))
        if when is not None:
            return when, when if entry.rtype == "MedicationAdministration" else None
        period = resource.get("effectivePeriod")
        start = period_start(period) or (
            parse_date(resource.get("dateAsserted"))
            if entry.rtype == "MedicationStatement"
            else None
        )
        return start, period_end(period)
    if entry.rtype == "MedicationDispense":
        when = parse_date(resource.get("whenHandedOver")) or parse_date(
            resource.get("whenPrepared")
        )
        return when, when
    for dosage in dicts(resource.get("dosageInstruction")):
        timing = as_dict(dosage.get("timing"))
        repeat = as_dict(timing.get("repeat")) if timing else None
        bounds = repeat.get("boundsPeriod") if repeat else None
        if period_start(bounds) is not None:
            return period_start(bounds), period_end(bounds)
    dispense = as_dict(resource.get("dispenseRequest"))
    validity = dispense.get("validityPeriod") if dispense else None
    if period_start(validity) is not None:
        return period_start(validity), period_end(validity)
    return parse_date(resource.get("authoredOn")), None


def _planned_start(entry: Entry) -> FhirDate | None:
    """When a proposed therapy is to start: its dosage bounds or validity period, never
    the date the order was written (that is not a treatment date)."""
    resource = entry.resource
    if entry.rtype == "MedicationStatement":
        return period_start(resource.get("effectivePeriod")) or parse_date(
            resource.get("effectiveDateTime")
        )
    for dosage in dicts(resource.get("dosageInstruction")):
        timing = as_dict(dosage.get("timing"))
        repeat = as_dict(timing.get("repeat")) if timing else None
        if repeat is not None and period_start(repeat.get("boundsPeriod")) is not None:
            return period_start(repeat.get("boundsPeriod"))
    dispense = as_dict(resource.get("dispenseRequest"))
    return period_start(dispense.get("validityPeriod")) if dispense else None


def _medication_concepts(entry: Entry, ctx: ReadContext) -> list[object]:
    """The medication CodeableConcept(s): inline, or from the referenced Medication."""
    resource = entry.resource
    inline = resource.get("medicationCodeableConcept")
    if inline is not None:
        return [inline]
    reference = as_dict(resource.get("medicationReference"))
    if reference is None:
        return []
    target = ctx.index.resolve(reference_of(reference), entry)
    if target is None:
        display = as_str(reference.get("display"))
        if display:
            return [{"text": display}]
        raise InputError(
            f"medicationReference {reference_of(reference)!r} points to a Medication "
            "that is not in the input",
            where=entry.source,
        )
    concepts: list[object] = [target.get("code")]
    for ingredient in dicts(target.get("ingredient")):
        concepts.append(ingredient.get("itemCodeableConcept"))
        item = as_dict(ingredient.get("itemReference"))
        if item is not None:
            resolved = ctx.index.resolve(reference_of(item), entry)
            if resolved is not None:
                concepts.append(resolved.get("code"))
    return [c for c in concepts if c is not None]


def _medication_names(entry: Entry, ctx: ReadContext) -> list[str]:
    return [text for concept in _medication_concepts(entry, ctx) for text in concept_texts(concept)]


def _agents(entry: Entry, ctx: ReadContext) -> list[str]:
    """Knowledge-base agent ids: RxNorm/ATC codes first, then names in text and displays."""
    agents: list[str] = []
    for concept in _medication_concepts(entry, ctx):
        for system, code, _display in codings(concept):
            hit = ctx.term.lookup("antineoplastic-agent", system, code)
            if hit is not None and hit.target and hit.target not in agents:
                agents.append(hit.target)
        if agents:
            continue
        for text in concept_texts(concept):
            for agent in agents_in_text(text, ctx):
                if agent not in agents:
                    agents.append(agent)
    return agents


def agents_in_text(text: str, ctx: ReadContext) -> list[str]:
    """Agents named in free text, longest names first ("medroxyprogesterone acetate 10 MG")."""
    whole = ctx.kb.resolve_agent(text)
    if whole is not None:
        return [whole]
    words = _WORD.findall(text)
    found: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_MAX_NGRAM, len(words) - i), 0, -1):
            agent = ctx.kb.resolve_agent(" ".join(words[i : i + size]))
            if agent is not None:
                if agent not in found:
                    found.append(agent)
                i += size
                break
        else:
            i += 1
    return found


def _stop_reason(resource: JSON, ctx: ReadContext) -> StopReason | None:
    for key in ("statusReason", "reasonCode"):
        for concept in dicts(resource.get(key)):
            target = ctx.match_any("stop-reason", concept)
            if target:
                return StopReason(target)
    return None


def _adjuvant(resource: JSON, ctx: ReadContext) -> bool:
    for ext in dicts(resource.get("extension")):
        if ctx.match_any("adjuvant-intent", ext.get("valueCodeableConcept")) is not None:
            return True
    return any(
        ctx.match_any("adjuvant-intent", concept) is not None
        for key in ("category", "reasonCode", "courseOfTherapyType")
        for concept in dicts(resource.get(key))
    )


# ----------------------------------------------------------------- grouping


def _merge_courses(episodes: list[Episode], gap_days: int) -> list[Episode]:
    """One course per agent for repeated orders/administrations close in time."""
    dated = sorted((e for e in episodes if e.start is not None), key=lambda e: (e.agent, e.start))
    merged: list[Episode] = []
    # The current course's sources, as parts and as the set of names they hold: joined
    # once at the end, so a course of thousands of administrations stays linear.
    parts: list[str] = []
    names: set[str] = set()
    for episode in dated:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.agent == episode.agent
            and _within_gap(last, episode, gap_days)
        ):
            ends = [d for d in (last.end, episode.end) if d is not None]
            latest_ends = [
                d for d in (last.end_latest or last.end, episode.end_latest or episode.end) if d
            ]
            last.end = None if (last.ongoing or episode.ongoing or not ends) else max(ends)
            last.end_latest = (
                max(latest_ends) if last.end is not None and max(latest_ends) > last.end else None
            )
            last.ongoing = last.ongoing or episode.ongoing
            if episode.source not in names:
                parts.append(episode.source)
                names.update(episode.source.split(", "))
            # Progression on any administration ends the course for progression.
            last.stop_reason = (
                StopReason.PROGRESSION
                if StopReason.PROGRESSION in (last.stop_reason, episode.stop_reason)
                else episode.stop_reason or last.stop_reason
            )
            last.adjuvant = last.adjuvant or episode.adjuvant
        else:
            if merged:
                merged[-1].source = ", ".join(parts)
            merged.append(Episode(**{name: getattr(episode, name) for name in Episode.__slots__}))
            parts = [episode.source]
            names = set(episode.source.split(", "))
    if merged:
        merged[-1].source = ", ".join(parts)
    return merged + [e for e in episodes if e.start is None]


def _within_gap(course: Episode, episode: Episode, gap_days: int) -> bool:
    assert course.start is not None and episode.start is not None
    reach = course.end or course.start
    return course.ongoing or episode.start <= reach + timedelta(days=gap_days)


def group_lines(
    episodes: list[Episode],
    ctx: ReadContext,
    nephrectomy: date | None,
    metastasis: date | None,
) -> tuple[PriorTherapy, ...]:
    courses = _merge_courses(episodes, ctx.term.param("course_gap_days"))
    window = timedelta(days=ctx.term.param("regimen_start_window_days"))
    dated = sorted((c for c in courses if c.start is not None), key=lambda c: c.start or date.min)
    groups: list[list[Episode]] = []
    for course in dated:
        assert course.start is not None
        current = groups[-1] if groups else None
        if current is not None and _joins(current, course, window):
            current.append(course)
        else:
            groups.append([course])
    groups.extend(_undated_groups([c for c in courses if c.start is None], ctx))
    return tuple(_prior_therapy(group, ctx, nephrectomy, metastasis) for group in groups)


def _joins(group: list[Episode], course: Episode, window: timedelta) -> bool:
    assert course.start is not None
    group_start = min(c.start for c in group if c.start is not None)
    if course.start - group_start <= window:
        return True
    # A true overlap: another agent of the group is still running well after
    # this one starts (an end date equal to the next start is a switch).
    return any(c.end is not None and c.end - course.start > window for c in group)


def _undated_groups(courses: list[Episode], ctx: ReadContext) -> list[list[Episode]]:
    """Undated agents: together only when they form a regimen the knowledge base lists."""
    if not courses:
        return []
    combined = "+".join(sorted({c.agent for c in courses}))
    if combined in ctx.kb.regimens:
        return [courses]
    return [[course] for course in courses]


def _prior_therapy(
    group: list[Episode], ctx: ReadContext, nephrectomy: date | None, metastasis: date | None
) -> PriorTherapy:
    starts = [c.start for c in group if c.start is not None]
    ends = [c.end for c in group if c.end is not None]
    start = min(starts) if starts else None
    # A month/year start or end stands for an interval of days (Episode.*_latest).
    start_latest = min((c.start_latest or c.start for c in group if c.start), default=None)
    end_latest = max((c.end_latest or c.end for c in group if c.end), default=None)
    ongoing = any(c.ongoing for c in group)
    sources = ", ".join(dict.fromkeys(s for c in group for s in c.source.split(", ")))
    setting = TherapySetting.METASTATIC
    if any(c.adjuvant for c in group):
        setting = TherapySetting.ADJUVANT
    elif (
        start is not None
        and nephrectomy is not None
        and metastasis is not None
        and nephrectomy <= start < metastasis
    ):
        regimen = "+".join(sorted({c.agent for c in group}))
        adjuvant = regimen in ctx.term.adjuvant_regimens
        if adjuvant:
            setting = TherapySetting.ADJUVANT
        ctx.warn(
            f"{regimen} started {start}, after nephrectomy ({nephrectomy}) and before the "
            f"first recorded metastasis ({metastasis}): "
            + (
                "taken as adjuvant (inferred from dates)"
                if adjuvant
                else "not an adjuvant regimen, so counted as a line for metastatic disease"
            ),
            sources,
            "info",
        )
    stop = _line_stop_reason(group)
    end = None if ongoing or not ends else max(ends)
    if start is not None and end is not None and end_latest is not None and end < start:
        end = min(start, end_latest)  # a month-only end can fall on or after the start
    if start is not None and end is not None and end < start:
        ctx.warn(f"therapy ends {end} before it starts {start}; end date not used", sources)
        end = None
    return PriorTherapy(
        agents=tuple(sorted({c.agent for c in group})),
        start=start,
        start_latest=start_latest if start and start_latest and start_latest > start else None,
        end=end,
        end_latest=end_latest if end and end_latest and end_latest > end else None,
        setting=setting,
        stop_reason=stop,
        source=_short_sources(sources),
    )


def _line_stop_reason(group: list[Episode]) -> StopReason | None:
    """Why the line ended: progression on any agent ends the whole line (rule
    therapy.line-progression), then toxicity; otherwise the reason of the agent that
    stopped last (ipilimumab "completed" after induction does not hide the reason
    nivolumab maintenance stopped)."""
    reasons = [c.stop_reason for c in group if c.stop_reason is not None]
    for decisive in (StopReason.PROGRESSION, StopReason.TOXICITY):
        if decisive in reasons:
            return decisive
    stopped = [c for c in group if c.stop_reason is not None]
    if not stopped:
        return None
    return max(stopped, key=lambda c: c.end or c.start or date.min).stop_reason


def _short_sources(sources: str, limit: int = 6) -> str:
    parts = sources.split(", ")
    if len(parts) <= limit:
        return sources
    return f"{', '.join(parts[:limit])} (+{len(parts) - limit} more)"


def proposed_therapy(found: MedicationFindings) -> ProposedTherapy | None:
    if not found.proposed:
        return None
    agents = tuple(dict.fromkeys(agent for agent, _start, _source in found.proposed))
    starts = [start for _agent, start, _source in found.proposed if start is not None]
    sources = ", ".join(dict.fromkeys(source for _a, _s, source in found.proposed))
    return ProposedTherapy(
        agents=agents, planned_start=min(starts) if starts else None, source=sources
    )


def medication_concepts(entry: Entry, ctx: ReadContext) -> list[object]:
    """The medication CodeableConcept(s) of a medication record (for other readers)."""
    return _medication_concepts(entry, ctx)
