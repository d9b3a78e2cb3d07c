"""Systemic therapy for measurable disease with the safety check of the proposed therapy,
memoised by everything the two read.

The options (``systemic_therapy.decide``, ``without_surveillance``, ``promote``) and the
safety warnings (``therapy_safety.check``) depend on the patient only through a few
derived values: the histology as treated, the line with what was received before, the
IMDC groups still possible, untreated brain metastases, the answers to the safety
questions the contraindication rules ask (with what the record holds for each that is
yes, and where it is recorded), sarcomatoid features, poor performance status, the
active-surveillance answer, the proposed agents and whether the disease is resected
(NED). Patients who share those values get the same options, word for word, so the
result is kept under a :class:`TreatmentKey` holding all of them and the knowledge
base's checksum and the guideline view; the HD IL-2 fitness (its unmet and unknown
criteria) is a second key level, read only where the decision asks for it.

``tests/core/test_treatment_memo.py`` compares the memoised answer with the computed one
over generated patients and every example and vignette, and shows that dropping any
component of the key makes that comparison fail.
"""

from __future__ import annotations

from typing import NamedTuple

from rccnav.core.assessment import (
    Decision,
    GuidelineViewName,
    Reason,
    RiskResult,
    SystemicTherapy,
    Warning,
)
from rccnav.core.case import Case, Histology
from rccnav.core.decisions import aldesleukin_fitness, systemic_therapy, therapy_safety
from rccnav.core.decisions.common import brain_metastases
from rccnav.core.decisions.lines import Line
from rccnav.core.decisions.safety_facts import (
    Facts,
    contraindication_facts,
    fact_source,
    recorded_detail,
)
from rccnav.core.memo import SWITCH, WRITING, Memo
from rccnav.knowledge.model import KnowledgeBase

Treatment = tuple[SystemicTherapy, tuple[Warning, ...]]
FitnessKey = tuple[tuple[str, ...], tuple[str, ...]]

_RULED_OUT = ("not-recommended", "not-applicable")


class TreatmentKey(NamedTuple):
    """Every input the options and the safety warnings read (see the module docstring)."""

    knowledge_base: str
    view: str
    histology: Histology | None
    line: int
    exposure: frozenset[str]
    prior_agents: frozenset[str]
    adjuvant_agents: frozenset[str]
    progressed_on_pd1_axis: bool
    line_reasons: tuple[Reason, ...]
    possible_groups: tuple[str, ...]
    untreated_brain_metastases: bool | None
    #: The answer to each fact the contraindication rules ask, in rule order.
    facts: tuple[bool | None, ...]
    #: For each fact answered yes: what the record holds and where it is recorded.
    recorded: tuple[tuple[str | None, str], ...]
    sarcomatoid: bool
    poor_performance: bool | None
    #: Why active surveillance is ruled out (its first reason), None while it stands.
    surveillance_ruled_out: Reason | None
    proposed_agents: tuple[str, ...] | None
    proposed_source: str | None
    no_evidence_of_disease: bool


class _Entry:
    """Results under one key: by HD IL-2 fitness when the decision asks for it."""

    __slots__ = ("asks_fitness", "results")

    #: At most this many fitness variants are kept per key.
    MAX_VARIANTS = 32

    def __init__(self, asks_fitness: bool) -> None:
        self.asks_fitness = asks_fitness
        self.results: dict[FitnessKey | None, Treatment] = {}

    def put(self, fitness: FitnessKey | None, result: Treatment) -> None:
        with WRITING:
            if fitness not in self.results and len(self.results) >= self.MAX_VARIANTS:
                del self.results[next(iter(self.results))]
            self.results[fitness] = result


_MEMO: Memo[TreatmentKey, _Entry] = Memo("treatment", "patient", 4096)


def treatment_key(
    case: Case,
    imdc: RiskResult,
    line: Line,
    surveillance: Decision,
    kb: KnowledgeBase,
    view: GuidelineViewName,
    facts: Facts,
) -> TreatmentKey:
    """The complete key of :func:`decide` for this patient."""
    names = contraindication_facts(kb)
    answers = facts.answers(names)
    recorded = tuple(
        [
            (recorded_detail(case, name, kb), fact_source(case, name))
            for name, answer in zip(names, answers, strict=True)
            if answer is True
        ]
    )
    proposed = case.proposed_therapy
    ruled_out = surveillance.recommendation in _RULED_OUT
    return TreatmentKey(
        kb.checksum,
        view,
        systemic_therapy.effective_histology(case),
        line.number,
        line.exposure,
        line.prior_agents,
        line.adjuvant_agents,
        line.progressed_on_pd1_axis,
        line.reasons,
        imdc.possible_groups,
        brain_metastases(case)[1],
        answers,
        recorded,
        case.diagnosis.sarcomatoid is True,
        systemic_therapy.poor_performance(case, kb),
        surveillance.reasons[0] if ruled_out else None,
        proposed.agents if proposed is not None else None,
        proposed.source if proposed is not None else None,
        case.disease.no_evidence_of_disease is True,
    )


def _fitness_key(fitness: aldesleukin_fitness.Fitness) -> FitnessKey:
    return tuple(fitness.unmet), tuple(fitness.unknown)


def compute(
    case: Case,
    imdc: RiskResult,
    line: Line,
    surveillance: Decision,
    kb: KnowledgeBase,
    view: GuidelineViewName,
    facts: Facts,
    fitness_of: systemic_therapy.FitnessOf | None = None,
) -> Treatment:
    """The options and the safety warnings, computed (never memoised)."""
    therapy = systemic_therapy.without_surveillance(
        systemic_therapy.decide(case, imdc, line, kb, view, facts, fitness_of), surveillance
    )
    # Promotion runs after every exclusion and demotion.
    therapy = systemic_therapy.promote(therapy, imdc.possible_groups, kb)
    return therapy, tuple(therapy_safety.check(case, line, therapy, kb, facts))


def decide(
    case: Case,
    imdc: RiskResult,
    line: Line,
    surveillance: Decision,
    kb: KnowledgeBase,
    view: GuidelineViewName,
    facts: Facts,
) -> Treatment:
    """The options and the safety warnings: from the memo when a patient with the same
    key was assessed before, else computed and kept."""
    if not SWITCH.patient_memos:
        return compute(case, imdc, line, surveillance, kb, view, facts)
    key = treatment_key(case, imdc, line, surveillance, kb, view, facts)
    entry = _MEMO.get(key)
    if entry is not None:
        fitness = (
            _fitness_key(aldesleukin_fitness.assess(case, kb, facts))
            if entry.asks_fitness
            else None
        )
        found = entry.results.get(fitness)
        if found is not None:
            return found
        result = compute(case, imdc, line, surveillance, kb, view, facts)
        entry.put(fitness, result)
        return result
    asked: list[aldesleukin_fitness.Fitness] = []

    def fitness_of() -> aldesleukin_fitness.Fitness:
        asked.append(aldesleukin_fitness.assess(case, kb, facts))
        return asked[-1]

    result = compute(case, imdc, line, surveillance, kb, view, facts, fitness_of)
    entry = _Entry(asks_fitness=bool(asked))
    entry.put(_fitness_key(asked[0]) if asked else None, result)
    _MEMO.put(key, entry)
    return result
