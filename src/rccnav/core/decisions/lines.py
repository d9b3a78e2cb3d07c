"""Which line of systemic therapy for metastatic disease the patient is at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rccnav.core.assessment import Warning
from rccnav.core.case import Case, PriorTherapy, Response, StopReason
from rccnav.knowledge.model import CHECKPOINT_CLASSES, PD1_AXIS_CLASSES, AgentClass, KnowledgeBase

VEGF_CLASSES = frozenset({AgentClass.VEGFR_TKI, AgentClass.VEGF_ANTIBODY})


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    prior: tuple[PriorTherapy, ...]
    prior_agents: frozenset[str]
    exposure: frozenset[str]
    progressed_on_pd1_axis: bool
    warnings: tuple[Warning, ...]
    ignored: tuple[str, ...]


def _progressed(therapy: PriorTherapy) -> bool:
    return (
        therapy.stop_reason is StopReason.PROGRESSION
        or therapy.best_response is Response.PROGRESSION
    )


def current_line(case: Case, kb: KnowledgeBase, on: date) -> Line:
    prior: list[PriorTherapy] = []
    warnings: list[Warning] = []
    ignored: list[str] = []
    agents: set[str] = set()
    classes: set[AgentClass] = set()
    pd1_progression = False
    for index, therapy in enumerate(case.metastatic_prior_therapies):
        where = therapy.source or f"prior_therapies[{index}]"
        if therapy.start is not None and therapy.start > on:
            ignored.append(f"{where}: starts {therapy.start}, after the assessment date {on}")
            continue
        prior.append(therapy)
        therapy_classes: set[AgentClass] = set()
        for name in therapy.agents:
            agent_id = kb.resolve_agent(name)
            if agent_id is None:
                warnings.append(
                    Warning(
                        "data-quality",
                        "warning",
                        f"prior therapy agent {name!r} is not in the knowledge base; "
                        "its drug class is unknown",
                        source=where,
                    )
                )
                continue
            agents.add(agent_id)
            agent_class = kb.agents[agent_id].agent_class
            therapy_classes.add(agent_class)
        classes |= therapy_classes
        if therapy_classes & PD1_AXIS_CLASSES and _progressed(therapy):
            pd1_progression = True
    exposure = set()
    if classes & CHECKPOINT_CLASSES:
        exposure.add("checkpoint-inhibitor")
    if classes & VEGF_CLASSES:
        exposure.add("vegf-targeted")
    return Line(
        number=len(prior) + 1,
        prior=tuple(prior),
        prior_agents=frozenset(agents),
        exposure=frozenset(exposure),
        progressed_on_pd1_axis=pd1_progression,
        warnings=tuple(warnings),
        ignored=tuple(ignored),
    )
