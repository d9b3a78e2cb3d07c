"""Which line of systemic therapy for metastatic disease the patient is at.

A line is one regimen course as oncologists count it (rule ``therapy.line-of-therapy``):
treatment holds, dose changes and continuation maintenance with agents of the same
regimen (nivolumab after ipilimumab + nivolumab induction) stay in the line; a new line
starts when an agent is added or switched to, after progression, or when the regimen
restarts after a treatment-free gap longer than the rule's ``gap_days``. A line ended
for progression when any of its agents was stopped for progression.

A therapy with neither an end date nor a stop reason is the *current* line, not a prior
one (rule ``therapy.current-line``). Adjuvant therapy of any class is not a metastatic
line, but its agents count as received (no repeat), and recurrence during it or soon
after makes the disease refractory to it (rules ``therapy.adjuvant-exposure``,
``therapy.adjuvant-ici-relapse``); recurrence is the first metastasis found after the
adjuvant therapy started, not a metastasis already resected before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from rccnav.core.assessment import Reason, Warning
from rccnav.core.case import Case, PriorTherapy, Response, StopReason, TherapySetting
from rccnav.core.decisions.common import because, resolve_agents
from rccnav.core.records import quick_init
from rccnav.knowledge.model import (
    CHECKPOINT_CLASSES,
    PD1_AXIS_CLASSES,
    AgentClass,
    KnowledgeBase,
)

VEGF_CLASSES = frozenset({AgentClass.VEGFR_TKI, AgentClass.VEGF_ANTIBODY})
_MONTH_DAYS = 30.4375


@quick_init
@dataclass(frozen=True, slots=True)
class Line:
    number: int
    prior: tuple[PriorTherapy, ...]
    prior_agents: frozenset[str]
    exposure: frozenset[str]
    progressed_on_pd1_axis: bool
    current: PriorTherapy | None
    reasons: tuple[Reason, ...]
    warnings: tuple[Warning, ...]
    ignored: tuple[str, ...]
    adjuvant_agents: frozenset[str] = frozenset()
    adjuvant: tuple[PriorTherapy, ...] = ()
    #: The first line for metastatic disease (completed or running), if one has started.
    first: PriorTherapy | None = None
    #: The last day the first line can have started (for an undated first line).
    first_latest_start: date | None = None
    #: Recurrence during adjuvant therapy or within 6 months of it: True, False (none
    #: given, or all recurrences late), None (timing not recorded).
    adjuvant_refractory: bool | None = False


@dataclass(slots=True)
class _Course:
    """One line being assembled from the recorded therapies it is made of."""

    parts: list[PriorTherapy]
    agents: set[str]
    classes: set[AgentClass]
    wheres: list[str]
    merged: list[str] = field(default_factory=list)

    @property
    def progressed(self) -> bool:
        return any(_progressed(t) for t in self.parts)

    @property
    def end(self) -> date | None:
        last = self.parts[-1]
        return last.end

    def as_therapy(self) -> PriorTherapy:
        """The line as one therapy: union of agents, first start, last end, worst stop."""
        if len(self.parts) == 1:
            return self.parts[0]
        first, last = self.parts[0], self.parts[-1]
        agents = tuple(dict.fromkeys(a for t in self.parts for a in t.agents))
        stop = StopReason.PROGRESSION if self.progressed else last.stop_reason
        sources = [t.source for t in self.parts if t.source]
        return PriorTherapy(
            agents=agents,
            start=first.start,
            start_latest=first.start_latest,
            end=last.end,
            end_latest=last.end_latest,
            setting=TherapySetting.METASTATIC,
            best_response=_best_response(self.parts),
            stop_reason=stop,
            source=", ".join(dict.fromkeys(sources)) or None,
        )


_RESPONSE_ORDER = (Response.COMPLETE, Response.PARTIAL, Response.STABLE, Response.PROGRESSION)


def _best_response(parts: list[PriorTherapy]) -> Response | None:
    seen = {t.best_response for t in parts if t.best_response is not None}
    return next((r for r in _RESPONSE_ORDER if r in seen), None)


def _progressed(therapy: PriorTherapy) -> bool:
    return (
        therapy.stop_reason is StopReason.PROGRESSION
        or therapy.best_response is Response.PROGRESSION
    )


def _is_current(therapy: PriorTherapy) -> bool:
    return therapy.end is None and therapy.stop_reason is None


def _names(therapy: PriorTherapy) -> str:
    return " + ".join(therapy.agents)


def _classes(
    therapy: PriorTherapy, where: str, kb: KnowledgeBase, warnings: list[Warning]
) -> tuple[set[str], set[AgentClass]]:
    agents, problems = resolve_agents(
        kb, therapy.agents, where, "data-quality", "its drug class is unknown"
    )
    warnings.extend(problems)
    # Unknown names still identify the agent for line grouping and no-repeat.
    known = set(agents) | {n for n in therapy.agents if kb.resolve_agent(n) is None}
    return known, {kb.agents[a].agent_class for a in agents}


def _recurrence_after(case: Case, therapy: PriorTherapy) -> tuple[date, date] | None:
    """First metastasis found after adjuvant therapy started (already-resected ones
    excluded), as (earliest, latest) possible day: a month-only date is an interval."""
    dates = [(case.diagnosis.metastasis_date, case.diagnosis.metastasis_date_latest)] + [
        (m.date, m.date_latest) for m in case.disease.metastases
    ]
    known = [(d, last or d) for d, last in dates if d is not None]
    if therapy.start is not None:
        known = [(d, last) for d, last in known if last > therapy.start]
    if not known:
        return None
    return min(d for d, _last in known), min(last for _d, last in known)


def _adjuvant_refractory(
    case: Case, therapy: PriorTherapy, kb: KnowledgeBase
) -> tuple[bool | None, date | None]:
    """Did the disease recur during the adjuvant therapy or within the window after it?"""
    found = _recurrence_after(case, therapy)
    recurrence = found[0] if found else None
    if _progressed(therapy):
        return True, recurrence
    if found is None or therapy.end is None:
        return None, recurrence
    window = timedelta(days=round(kb.param("therapy.adjuvant-ici-relapse", "months") * _MONTH_DAYS))
    # A month/year end or recurrence date is an interval of days: within the window only
    # if the latest recurrence is within it for the earliest end, beyond it only if the
    # earliest recurrence is beyond it for the latest end; otherwise it cannot be judged.
    earliest, latest = found
    if latest <= therapy.end + window:
        return True, recurrence
    if earliest > (therapy.end_latest or therapy.end) + window:
        return False, recurrence
    return None, recurrence


def _continues(course: _Course, therapy: PriorTherapy, agents: set[str], gap_days: float) -> bool:
    """Same regimen course: a hold, dose change or continuation maintenance (no new agent)."""
    if course.progressed or not agents or not agents <= course.agents:
        return False
    end, start = course.end, therapy.start
    if end is None or start is None:
        return False
    return (start - end).days <= gap_days


def _adjuvant_reason(
    kb: KnowledgeBase,
    therapy: PriorTherapy,
    refractory: bool | None,
    recurrence: date | None,
    pd1: bool,
) -> Reason:
    span = f" ({therapy.start or 'start not recorded'} to {therapy.end or 'end not recorded'})"
    given = f"Adjuvant {_names(therapy)}{span}"
    if refractory is True:
        if pd1:
            return because(kb, "therapy.adjuvant-ici-relapse")
        when = f" (first recurrence {recurrence})" if recurrence else ""
        return because(
            kb,
            "therapy.adjuvant-exposure",
            f"{given}: the disease recurred during it or within 6 months of its end{when}, "
            "so it is treated as refractory to it; it is not offered again.",
        )
    if refractory is None:
        consequence = (
            "PD-(L)1 rechallenge is not advised outside a trial"
            if pd1
            else "the disease is refractory to it"
        )
        missing = (
            "recurrence date is not recorded"
            if recurrence is None
            else "end date of the adjuvant therapy is not recorded"
            if therapy.end is None
            else f"end date of the adjuvant therapy ({therapy.end}"
            + (f" to {therapy.end_latest}" if therapy.end_latest else "")
            + f") and the recurrence (from {recurrence}) are recorded only to the month or year"
        )
        return because(
            kb,
            "therapy.adjuvant-exposure",
            f"{given}: the {missing}, so whether the disease recurred during "
            f"it or within 6 months of its end cannot be judged; if it did, {consequence}. "
            "It is not offered again.",
        )
    return because(
        kb,
        "therapy.adjuvant-exposure",
        f"{given}: the disease recurred on {recurrence}, more than 6 months after it ended; "
        "it is not a line for metastatic disease and is not offered again.",
    )


def current_line(case: Case, kb: KnowledgeBase, on: date) -> Line:
    warnings: list[Warning] = []
    ignored: list[str] = []
    reasons: list[Reason] = []
    adjuvant_agents: set[str] = set()
    adjuvant: list[PriorTherapy] = []
    agents: set[str] = set()
    classes: set[AgentClass] = set()
    pd1_progression = False
    refractory_states: list[bool | None] = []
    gap_days = kb.param("therapy.line-of-therapy", "gap_days")

    metastatic: list[tuple[PriorTherapy, str, set[str], set[AgentClass]]] = []
    for index, therapy in enumerate(case.prior_therapies):
        where = therapy.source or f"prior_therapies[{index}]"
        if therapy.start is not None and therapy.start > on:
            ignored.append(f"{where}: starts {therapy.start}, after the assessment date {on}")
            continue
        therapy_agents, therapy_classes = _classes(therapy, where, kb, warnings)
        if therapy.setting is TherapySetting.ADJUVANT:
            adjuvant.append(therapy)
            adjuvant_agents |= therapy_agents
            pd1 = bool(therapy_classes & PD1_AXIS_CLASSES)
            refractory, recurrence = _adjuvant_refractory(case, therapy, kb)
            refractory_states.append(refractory)
            if refractory is True:
                classes |= therapy_classes
                agents |= therapy_agents
                pd1_progression = pd1_progression or pd1
            reasons.append(_adjuvant_reason(kb, therapy, refractory, recurrence, pd1))
            continue
        metastatic.append((therapy, where, therapy_agents, therapy_classes))

    # Only the therapy started last can still be running (rule therapy.undated-stop).
    running = [t for t, *_ in metastatic if _is_current(t)]
    latest = max(running, key=lambda t: t.start or date.min) if running else None

    courses: list[_Course] = []
    ordered = sorted(metastatic, key=lambda item: (item[0].start is None, item[0].start or on))
    for therapy, where, therapy_agents, therapy_classes in ordered:
        last = courses[-1] if courses else None
        if last is not None and _continues(last, therapy, therapy_agents, gap_days):
            last.parts.append(therapy)
            last.classes |= therapy_classes
            last.wheres.append(where)
            last.merged.append(
                f"{_names(therapy)} from {therapy.start} continues the line of "
                f"{_names(last.parts[0])} started {last.parts[0].start} (no new agent, no "
                f"progression, restarted within {gap_days:.0f} days): one line, not a new one."
            )
            continue
        courses.append(_Course([therapy], set(therapy_agents), set(therapy_classes), [where]))

    completed: list[PriorTherapy] = []
    current: PriorTherapy | None = None
    for course in courses:
        reasons.extend(because(kb, "therapy.line-of-therapy", text) for text in course.merged)
        line_therapy = course.as_therapy()
        if latest is not None and any(part is latest for part in course.parts):
            current = line_therapy
            reasons.append(
                because(
                    kb,
                    "therapy.current-line",
                    f"Currently receiving {_names(latest)}"
                    + (f" since {latest.start}" if latest.start else "")
                    + (
                        f", within the line of {_names(line_therapy)} started {line_therapy.start}"
                        if len(course.parts) > 1
                        else ""
                    )
                    + " (no end date or stop reason recorded): the options shown are those of "
                    "this line, for reference; continue while the patient benefits.",
                )
            )
            continue
        for part in course.parts:
            if _is_current(part):
                reasons.append(
                    because(
                        kb,
                        "therapy.undated-stop",
                        f"{_names(part)} has no end date or stop reason but a later "
                        "therapy was started: counted as a completed line.",
                    )
                )
        if len(course.parts) > 1 and course.progressed:
            reasons.append(
                because(
                    kb,
                    "therapy.line-progression",
                    f"The line of {_names(line_therapy)} ended for progression: "
                    "progression on any of its agents ends the whole line.",
                )
            )
        completed.append(line_therapy)
        agents |= course.agents
        classes |= course.classes
        if course.classes & PD1_AXIS_CLASSES and course.progressed:
            pd1_progression = True
    exposure = set()
    if classes & CHECKPOINT_CLASSES:
        exposure.add("checkpoint-inhibitor")
    if classes & VEGF_CLASSES:
        exposure.add("vegf-targeted")
    return Line(
        number=len(completed) + 1,
        prior=tuple(completed),
        prior_agents=frozenset(agents | adjuvant_agents),
        exposure=frozenset(exposure),
        progressed_on_pd1_axis=pd1_progression,
        current=current,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        ignored=tuple(ignored),
        adjuvant_agents=frozenset(adjuvant_agents),
        adjuvant=tuple(adjuvant),
        first=_first(courses),
        first_latest_start=_latest_first_start(courses, on),
        adjuvant_refractory=(
            True if True in refractory_states else None if None in refractory_states else False
        ),
    )


def _first(courses: list[_Course]) -> PriorTherapy | None:
    """The first line: an undated line may be the first, so it wins over dated ones."""
    undated = [c for c in courses if c.parts[0].start is None]
    chosen = undated[0] if undated else (courses[0] if courses else None)
    return chosen.as_therapy() if chosen is not None else None


def _latest_first_start(courses: list[_Course], on: date) -> date | None:
    """The last day the first line can have started: its start, else a later line's start."""
    if not courses:
        return None
    starts = [t.start for c in courses for t in c.parts if t.start is not None]
    if all(c.parts[0].start is not None for c in courses):
        # Every line dated: the first line's start, or the last day its month/year start
        # stands for (never after a later line's start).
        first = courses[0].parts[0]
        return min([first.start_latest or starts[0], *starts[1:]])
    return min(starts, default=on)
