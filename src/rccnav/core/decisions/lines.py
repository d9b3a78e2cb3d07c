"""Which line of systemic therapy for metastatic disease the patient is at.

A therapy with neither an end date nor a stop reason is the *current* line, not
a prior one (rule ``therapy.current-line``). Adjuvant checkpoint-inhibitor
therapy counts as prior exposure when the disease recurred on it or soon after
(rule ``therapy.adjuvant-ici-relapse``), but it is not a metastatic line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rccnav.core.assessment import Reason, Warning
from rccnav.core.case import Case, PriorTherapy, Response, StopReason, TherapySetting
from rccnav.core.decisions.common import because, resolve_agents
from rccnav.knowledge.model import (
    CHECKPOINT_CLASSES,
    PD1_AXIS_CLASSES,
    AgentClass,
    KnowledgeBase,
)

VEGF_CLASSES = frozenset({AgentClass.VEGFR_TKI, AgentClass.VEGF_ANTIBODY})


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


def _progressed(therapy: PriorTherapy) -> bool:
    return (
        therapy.stop_reason is StopReason.PROGRESSION
        or therapy.best_response is Response.PROGRESSION
    )


def _is_current(therapy: PriorTherapy) -> bool:
    return therapy.end is None and therapy.stop_reason is None


def _classes(
    therapy: PriorTherapy, where: str, kb: KnowledgeBase, warnings: list[Warning]
) -> tuple[set[str], set[AgentClass]]:
    agents, problems = resolve_agents(
        kb, therapy.agents, where, "data-quality", "its drug class is unknown"
    )
    warnings.extend(problems)
    return set(agents), {kb.agents[a].agent_class for a in agents}


def _adjuvant_relapse(case: Case, therapy: PriorTherapy, kb: KnowledgeBase) -> bool:
    if _progressed(therapy):
        return True
    months = kb.param("therapy.adjuvant-ici-relapse", "months")
    relapse = case.diagnosis.metastasis_date
    if therapy.end is None or relapse is None:
        return False
    return relapse <= therapy.end + timedelta(days=round(months * 30.4375))


def current_line(case: Case, kb: KnowledgeBase, on: date) -> Line:
    warnings: list[Warning] = []
    ignored: list[str] = []
    reasons: list[Reason] = []
    completed: list[PriorTherapy] = []
    current: PriorTherapy | None = None
    agents: set[str] = set()
    classes: set[AgentClass] = set()
    pd1_progression = False
    running = [
        t
        for t in case.prior_therapies
        if t.setting is TherapySetting.METASTATIC
        and _is_current(t)
        and (t.start is None or t.start <= on)
    ]
    # Only the therapy started last can still be running (rule therapy.undated-stop).
    latest = max(running, key=lambda t: t.start or date.min) if running else None
    for index, therapy in enumerate(case.prior_therapies):
        where = therapy.source or f"prior_therapies[{index}]"
        if therapy.start is not None and therapy.start > on:
            ignored.append(f"{where}: starts {therapy.start}, after the assessment date {on}")
            continue
        therapy_agents, therapy_classes = _classes(therapy, where, kb, warnings)
        if therapy.setting is TherapySetting.ADJUVANT:
            if therapy_classes & PD1_AXIS_CLASSES and _adjuvant_relapse(case, therapy, kb):
                classes |= therapy_classes
                agents |= therapy_agents
                pd1_progression = True
                reasons.append(because(kb, "therapy.adjuvant-ici-relapse"))
            continue
        if therapy is latest:
            current = therapy
            reasons.append(
                because(
                    kb,
                    "therapy.current-line",
                    f"Currently receiving {' + '.join(therapy.agents)}"
                    + (f" since {therapy.start}" if therapy.start else "")
                    + " (no end date or stop reason recorded): the options shown are those of "
                    "this line, for reference; continue while the patient benefits.",
                )
            )
            continue
        if _is_current(therapy):
            reasons.append(
                because(
                    kb,
                    "therapy.undated-stop",
                    f"{' + '.join(therapy.agents)} has no end date or stop reason but a later "
                    "therapy was started: counted as a completed line.",
                )
            )
        completed.append(therapy)
        agents |= therapy_agents
        classes |= therapy_classes
        if therapy_classes & PD1_AXIS_CLASSES and _progressed(therapy):
            pd1_progression = True
    exposure = set()
    if classes & CHECKPOINT_CLASSES:
        exposure.add("checkpoint-inhibitor")
    if classes & VEGF_CLASSES:
        exposure.add("vegf-targeted")
    return Line(
        number=len(completed) + 1,
        prior=tuple(completed),
        prior_agents=frozenset(agents),
        exposure=frozenset(exposure),
        progressed_on_pd1_axis=pd1_progression,
        current=current,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        ignored=tuple(ignored),
    )
