"""Is the patient fit for high-dose interleukin-2? Every criterion must be met.

High-dose IL-2 causes capillary leak with hypotension and organ failure (4% treatment-
related deaths, Fyfe 1995); its label restricts it to normal cardiac and pulmonary
function, and the consensus selection adds performance, renal function, brain and
immune status. A criterion that is not recorded is never taken as met: the answer
is then "uncertain", naming what would settle it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rccnav.core.case import Case, Sex
from rccnav.core.decisions.common import brain_metastases, good_performance
from rccnav.core.decisions.safety_facts import Facts
from rccnav.knowledge.model import CHECKPOINT_CLASSES, KnowledgeBase

RULE = "therapy.aldesleukin-fitness"


@dataclass
class Fitness:
    unmet: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # what would settle each

    @property
    def fit(self) -> bool | None:
        if self.unmet:
            return False
        return None if self.unknown else True


def _judge(fitness: Fitness, met: bool | None, unmet: str, settle: str) -> None:
    if met is False:
        fitness.unmet.append(unmet)
    elif met is None:
        fitness.unknown.append(settle)


def _creatinine_ok(case: Case, kb: KnowledgeBase) -> bool | None:
    creatinine = case.labs.creatinine
    if creatinine is None:
        return None
    per_mg_dl = {"mg/dl": 1.0, "umol/l": 1 / 88.42, "µmol/l": 1 / 88.42}
    factor = per_mg_dl.get(creatinine.unit.strip().lower())
    if factor is None:
        return None
    return creatinine.value * factor <= kb.param(RULE, "max_creatinine_mg_dl")


def _not_pregnant(case: Case) -> bool | None:
    if case.sex is Sex.MALE:
        return True
    pregnant = case.comorbidities.pregnancy
    return None if pregnant is None else not pregnant


def _cardiac_ok(case: Case) -> bool | None:
    c = case.comorbidities
    if c.heart_failure is True:
        return False
    return c.cardiac_function_normal


def _pulmonary_ok(case: Case, facts: Facts) -> bool | None:
    if facts["resting_hypoxia"] is True:
        return False
    return case.comorbidities.pulmonary_function_normal


def _brain_ok(case: Case) -> bool | None:
    present, untreated = brain_metastases(case)
    if present is None:
        return None
    return not (present and untreated)


def _no_barring_ici_toxicity(case: Case, kb: KnowledgeBase, facts: Facts) -> bool | None:
    barred = facts["ici_rechallenge_barred"]
    if barred is not None:
        return not barred
    had_checkpoint = any(
        kb.resolve_agent(a) is not None
        and kb.agents[kb.resolve_agent(a) or ""].agent_class in CHECKPOINT_CLASSES
        for t in case.prior_therapies
        for a in t.agents
    )
    return None if had_checkpoint else True


def _absent(value: bool | None) -> bool | None:
    return None if value is None else not value


def assess(case: Case, kb: KnowledgeBase, facts: Facts | None = None) -> Fitness:
    """``facts``: the patient's safety facts, when the caller has them already."""
    facts = Facts(case, kb) if facts is None else facts
    fitness = Fitness()
    _judge(
        fitness,
        good_performance(case),
        "performance status below ECOG 1 / KPS 80",
        "performance status (ECOG or KPS)",
    )
    _judge(
        fitness,
        _cardiac_ok(case),
        "abnormal cardiac function or heart failure",
        "cardiac function (stress test, LVEF)",
    )
    _judge(
        fitness,
        _pulmonary_ok(case, facts),
        "abnormal pulmonary function or hypoxia",
        "pulmonary function tests",
    )
    _judge(
        fitness,
        _creatinine_ok(case, kb),
        "serum creatinine above 1.5 mg/dL",
        "serum creatinine",
    )
    _judge(fitness, _brain_ok(case), "untreated brain metastases", "brain imaging")
    _judge(
        fitness,
        _absent(facts["active_autoimmune_disease"]),
        "active autoimmune disease",
        "autoimmune disease history",
    )
    _judge(
        fitness,
        _absent(case.comorbidities.organ_transplant),
        "solid-organ transplant",
        "transplant history",
    )
    _judge(
        fitness,
        _absent(facts["immunosuppressive_corticosteroids"]),
        "systemic corticosteroids above 10 mg/day prednisone equivalent",
        "current corticosteroid dose",
    )
    _judge(fitness, _not_pregnant(case), "pregnancy", "pregnancy status")
    _judge(
        fitness,
        _no_barring_ici_toxicity(case, kb, facts),
        "prior checkpoint-inhibitor toxicity that bars further immunotherapy",
        "grade and organ of prior immune-related adverse events",
    )
    _judge(
        fitness,
        None if case.birth_date is None else True,
        "",
        f"date of birth (cardiac stress testing is expected from age "
        f"{int(kb.param(RULE, 'stress_test_from_age_years'))})",
    )
    return fitness
