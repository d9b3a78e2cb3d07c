"""Yes / no / unknown answers to what the safety rules ask of one patient.

Each contraindication in the knowledge base names the fact it depends on. Most are
flags recorded on ``Case.comorbidities``; the ones below are derived from the detail
the record holds (the immune-related adverse events with organ and grade, the organ
transplanted, the corticosteroid dose, SpO2, haemoglobin). ``None`` always means
unknown: a derived fact is never False merely because its inputs are missing.
"""

from __future__ import annotations

from collections.abc import Callable

from rccnav.core.case import (
    AutoimmuneDisease,
    Case,
    Comorbidities,
    ImmuneAdverseEvent,
    IrAEOrgan,
    Sex,
)
from rccnav.core.memo import Memo
from rccnav.knowledge.model import AgentClass, KnowledgeBase

Fact = Callable[[Case, KnowledgeBase], bool | None]

_IRAE_RULE = "safety.irae-no-rechallenge"
_CTLA4_COLITIS_RULE = "safety.irae-ctla4-colitis"
_GRADE3_RULE = "safety.irae-grade3-rechallenge"
_CHECKPOINT_CLASSES = frozenset({AgentClass.PD1, AgentClass.PDL1, AgentClass.CTLA4})
_HYPOXIA_RULE = "safety.belzutifan-hypoxia"
_ANAEMIA_RULE = "safety.belzutifan-anaemia"


def irae_threshold(organ: IrAEOrgan, kb: KnowledgeBase) -> int | None:
    """Lowest CTCAE grade of a prior irAE in ``organ`` that bars checkpoint-inhibitor
    rechallenge (ASCO 2021); None where no grade does (endocrinopathies on replacement)."""
    rule = kb.rule(_IRAE_RULE)
    exempt = str(rule.parameters.get("exempt_organs", "")).split(",")
    if organ.value in exempt:
        return None
    specific = rule.parameters.get(f"{organ.value}_min_grade")
    if isinstance(specific, int) and not isinstance(specific, bool):
        return specific
    return int(kb.param(_IRAE_RULE, "default_min_grade"))


def ici_rechallenge_barred(case: Case, kb: KnowledgeBase) -> bool | None:
    """A prior irAE severe enough that no checkpoint inhibitor may be given again."""
    c = case.comorbidities
    if c.prior_severe_immune_related_adverse_event is True:
        return True
    events = c.immune_related_adverse_events
    if events is None:
        return c.prior_severe_immune_related_adverse_event
    grade_unknown = False
    for event in events:
        meets = _meets(event, irae_threshold(event.organ, kb))
        if meets is None:
            grade_unknown = True
        elif meets:
            return True
    return None if grade_unknown else False


def _meets(event: ImmuneAdverseEvent, threshold: int | None) -> bool | None:
    """Does the event reach the grade that bars rechallenge? A recorded event is grade 1
    at least, so an unrecorded grade settles it only where grade 1 already bars (a
    confirmed Stevens-Johnson syndrome, TEN or DRESS); elsewhere it is unknown."""
    if threshold is None:
        return False
    if event.grade is None:
        return True if threshold <= 1 else None
    return event.grade >= threshold


def _grade3_below_bar(
    event: ImmuneAdverseEvent, kb: KnowledgeBase, questioned: bool
) -> bool | None:
    """Is the event of grade 3 or more yet below its organ's bar, in the organs where the
    sources question any rechallenge (``questioned``: hepatitis, nephritis) or in the
    others? None when its grade is not recorded; False outside that set of organs. Events
    that already bar every checkpoint inhibitor are left to that rule."""
    threshold = irae_threshold(event.organ, kb)
    organs = str(kb.rule(_GRADE3_RULE).parameters["questioned_organs"]).split(",")
    if threshold is None or (event.organ.value in organs) is not questioned:
        return False
    if event.grade is None:
        return None
    return int(kb.param(_GRADE3_RULE, "min_grade")) <= event.grade < threshold


def _grade3_events(case: Case, kb: KnowledgeBase, questioned: bool) -> bool | None:
    """Any such event; None when the history or such an event's grade is not recorded."""
    events = case.comorbidities.immune_related_adverse_events
    if events is None:
        # No irAE without a checkpoint inhibitor; otherwise the history is not recorded.
        return False if _checkpoint_inhibitor_ever_given(case, kb) is False else None
    grade_unknown = False
    for event in events:
        below = _grade3_below_bar(event, kb, questioned)
        if below is None:
            grade_unknown = True
        elif below:
            return True
    return None if grade_unknown else False


def ici_rechallenge_questioned(case: Case, kb: KnowledgeBase) -> bool | None:
    """Grade 3 immune hepatitis or nephritis: rechallenge only after specialist discussion
    (ASCO 2021 advises considering, or for nephritis advises, permanent discontinuation)."""
    return _grade3_events(case, kb, questioned=True)


def ici_prior_grade3_irae(case: Case, kb: KnowledgeBase) -> bool | None:
    """Another grade 3 irAE: rechallenge after recovery, stop for good if it recurs (labels)."""
    return _grade3_events(case, kb, questioned=False)


def grade3_events(case: Case, kb: KnowledgeBase, *, questioned: bool) -> list[str]:
    """Clinical descriptions of the grade 3 events behind the two facts above."""
    return [
        _describe(event)
        for event in case.comorbidities.immune_related_adverse_events or ()
        if _grade3_below_bar(event, kb, questioned) is True
    ]


def _checkpoint_inhibitor_ever_given(case: Case, kb: KnowledgeBase) -> bool | None:
    """Any recorded course (adjuvant too) with a checkpoint inhibitor; None where a
    recorded agent is not one the knowledge base knows."""
    unknown = False
    for therapy in case.prior_therapies:
        for name in therapy.agents:
            agent = kb.agents.get(name)
            if agent is None:
                unknown = True
            elif agent.agent_class in _CHECKPOINT_CLASSES:
                return True
    return None if unknown else False


def ctla4_rechallenge_barred(case: Case, kb: KnowledgeBase) -> bool | None:
    """Immune colitis of grade 3 or more: no CTLA-4 inhibitor again (OPDIVO label: the
    combination is permanently discontinued for grade 3-4 colitis; ASCO 2021)."""
    min_grade = int(kb.param(_CTLA4_COLITIS_RULE, "colitis_min_grade"))
    events = case.comorbidities.immune_related_adverse_events
    if events is None:
        # No irAE can have happened without a checkpoint inhibitor; otherwise the
        # history is simply not recorded.
        return False if _checkpoint_inhibitor_ever_given(case, kb) is False else None
    grade_unknown = False
    for event in events:
        if event.organ is not IrAEOrgan.COLITIS:
            continue
        if event.grade is None:
            grade_unknown = True
        elif event.grade >= min_grade:
            return True
    return None if grade_unknown else False


def severe_colitis_events(case: Case, kb: KnowledgeBase) -> list[str]:
    """Clinical descriptions of the colitis events that bar a CTLA-4 inhibitor."""
    min_grade = int(kb.param(_CTLA4_COLITIS_RULE, "colitis_min_grade"))
    return [
        _describe(event)
        for event in case.comorbidities.immune_related_adverse_events or ()
        if event.organ is IrAEOrgan.COLITIS and event.grade is not None and event.grade >= min_grade
    ]


def _describe(event: ImmuneAdverseEvent) -> str:
    agents = " + ".join(event.agents) or (
        event.agent_class.value if event.agent_class else "a checkpoint inhibitor"
    )
    when = f", {event.date}" if event.date else ""
    if event.organ is IrAEOrgan.SEVERE_SKIN_REACTION:
        grade = f"grade {event.grade} " if event.grade is not None else ""
        return f"{grade}severe skin reaction (SJS, TEN or DRESS) on {agents}{when}"
    what = _ORGAN_WORDS.get(event.organ, event.organ.value)
    return f"grade {event.grade} immune {what} on {agents}{when}"


# How a clinician names the event where the organ's own word does not read as one.
_ORGAN_WORDS = {
    IrAEOrgan.OCULAR: "uveitis or other eye inflammation",
    IrAEOrgan.MYASTHENIA_GRAVIS: "myasthenia gravis",
    IrAEOrgan.NEUROLOGICAL: "neurological toxicity",
    IrAEOrgan.HAEMATOLOGICAL: "haematological toxicity",
    IrAEOrgan.ENDOCRINE: "endocrinopathy",
    IrAEOrgan.SKIN: "skin toxicity",
    IrAEOrgan.OTHER: "adverse event",
}


def barring_events(case: Case, kb: KnowledgeBase) -> list[str]:
    """Clinical descriptions of the recorded events that bar rechallenge (for messages)."""
    found: list[str] = []
    for event in case.comorbidities.immune_related_adverse_events or ():
        if _meets(event, irae_threshold(event.organ, kb)):
            found.append(_describe(event))
    return found


def _transplant_of_unrecorded_organ(case: Case, kb: KnowledgeBase) -> bool | None:
    c = case.comorbidities
    # Unknown transplant status is reported through the by-organ facts instead.
    return c.transplanted_organs is None and c.organ_transplant is True


def _active_autoimmune_disease(case: Case, kb: KnowledgeBase) -> bool | None:
    c = case.comorbidities
    listed = c.autoimmune_diseases
    if c.active_autoimmune_disease is not None:
        return c.active_autoimmune_disease or any(d.active is True for d in listed or ())
    if listed is None:
        return None
    if any(d.active is True for d in listed):
        return True
    return None if any(d.active is None for d in listed) else False


def _myasthenia_gravis(case: Case, kb: KnowledgeBase) -> bool | None:
    listed = case.comorbidities.autoimmune_diseases
    if listed is None:
        # "No active autoimmune disease" is taken to include myasthenia gravis: a record
        # holding quiescent myasthenia must list it under autoimmune_diseases.
        return False if case.comorbidities.active_autoimmune_disease is False else None
    return any(d.disease is AutoimmuneDisease.MYASTHENIA_GRAVIS for d in listed)


def _immunosuppressive_corticosteroids(case: Case, kb: KnowledgeBase) -> bool | None:
    c = case.comorbidities
    over = c.steroids_over_10mg
    if over is True and c.corticosteroid_replacement_only is True:
        return False  # physiological replacement was allowed in the trials
    return over


def _other_immunosuppressants(case: Case, kb: KnowledgeBase) -> bool | None:
    drugs = case.comorbidities.other_immunosuppressants
    return None if drugs is None else bool(drugs)


def _resting_hypoxia(case: Case, kb: KnowledgeBase) -> bool | None:
    vitals = case.vitals
    if vitals.supplemental_oxygen is True:
        return True
    spo2 = vitals.oxygen_saturation
    if spo2 is None:
        return None
    if spo2.unit.strip() not in ("%", "%{saturation}"):
        return None  # an unreadable unit is unknown, not normal
    # SpO2 is recorded on room air unless supplemental oxygen is flagged (Case contract).
    return spo2.value < kb.param(_HYPOXIA_RULE, "spo2_below_percent")


def _haemoglobin_below_withhold_level(case: Case, kb: KnowledgeBase) -> bool | None:
    hb = case.labs.hemoglobin
    if hb is None:
        return None
    factor = {"g/dl": 1.0, "g/l": 0.1, "mmol/l": 1.6114}.get(hb.unit.strip().lower())
    if factor is None:
        return None
    return hb.value * factor < kb.param(_ANAEMIA_RULE, "hb_below_g_dl")


def _female(case: Case, kb: KnowledgeBase) -> bool | None:
    return None if case.sex is None else case.sex is Sex.FEMALE


DERIVED: dict[str, Fact] = {
    "ici_rechallenge_barred": ici_rechallenge_barred,
    "ctla4_rechallenge_barred": ctla4_rechallenge_barred,
    "ici_rechallenge_questioned": ici_rechallenge_questioned,
    "ici_prior_grade3_irae": ici_prior_grade3_irae,
    "transplant_of_unrecorded_organ": _transplant_of_unrecorded_organ,
    "active_autoimmune_disease": _active_autoimmune_disease,
    "myasthenia_gravis": _myasthenia_gravis,
    "immunosuppressive_corticosteroids": _immunosuppressive_corticosteroids,
    "other_immunosuppressants": _other_immunosuppressants,
    "resting_hypoxia": _resting_hypoxia,
    "haemoglobin_below_withhold_level": _haemoglobin_below_withhold_level,
    "female": _female,
}

_PROPERTIES = frozenset(
    name for name in dir(Comorbidities) if isinstance(getattr(Comorbidities, name), property)
)


_CONTRAINDICATION_FACTS: Memo[str, tuple[str, ...]] = Memo("contraindication facts", "knowledge", 8)


def contraindication_facts(kb: KnowledgeBase) -> tuple[str, ...]:
    """The facts the contraindication rules ask about, each once, in rule order."""
    names = _CONTRAINDICATION_FACTS.get(kb.checksum)
    if names is None:
        names = tuple(dict.fromkeys(rule.comorbidity for rule in kb.contraindications))
        _CONTRAINDICATION_FACTS.put(kb.checksum, names)
    return names


def is_known_fact(name: str) -> bool:
    """True when ``name`` is a fact this module can answer (checked against the KB)."""
    if name in DERIVED or name in _PROPERTIES:
        return True
    field = Comorbidities.model_fields.get(name)
    return field is not None and field.annotation == bool | None


def fact(case: Case, name: str, kb: KnowledgeBase) -> bool | None:
    """The answer to one safety question: True, False or None (unknown)."""
    derived = DERIVED.get(name)
    if derived is not None:
        return derived(case, kb)
    value = getattr(case.comorbidities, name)
    return value if isinstance(value, bool) else None


class Facts(dict[str, bool | None]):
    """One patient's safety facts, each worked out on first use and then looked up.

    The contraindication rules are checked against the options and again against the
    proposed therapy, and the HD IL-2 fitness asks some of the same questions: one table
    per assessment answers each once (``facts[name]`` is ``fact(case, name, kb)``).
    """

    __slots__ = ("_case", "_kb")

    def __init__(self, case: Case, kb: KnowledgeBase) -> None:
        super().__init__()
        self._case = case
        self._kb = kb

    def __missing__(self, name: str) -> bool | None:
        value = self[name] = fact(self._case, name, self._kb)
        return value

    def answers(self, names: tuple[str, ...]) -> tuple[bool | None, ...]:
        """``tuple(self[name] for name in names)``, in one pass (the treatment memo's key
        asks every contraindication fact on every call)."""
        if self:  # some already answered: one by one, each worked out once
            return tuple([self[name] for name in names])
        case, kb = self._case, self._kb
        recorded = case.comorbidities
        fields = recorded.__dict__
        values: list[bool | None] = []
        for name in names:
            derived = DERIVED.get(name)
            if derived is not None:
                values.append(derived(case, kb))
            elif name in fields:
                value = fields[name]
                values.append(value if isinstance(value, bool) else None)
            else:
                value = getattr(recorded, name)
                values.append(value if isinstance(value, bool) else None)
        self.update(zip(names, values, strict=True))
        return tuple(values)


_LABELS = {
    "ici_rechallenge_barred": "prior immune-related adverse events (organ and grade)",
    "ctla4_rechallenge_barred": "prior immune-related adverse events (organ and grade)",
    "ici_rechallenge_questioned": "prior immune-related adverse events (organ and grade)",
    "ici_prior_grade3_irae": "prior immune-related adverse events (organ and grade)",
    "transplant_of_unrecorded_organ": "organ transplanted",
    "heart_liver_or_lung_transplant": "heart, liver or lung transplant",
    "kidney_or_other_transplant": "kidney or other solid-organ transplant",
    "myasthenia_gravis": "myasthenia gravis",
    "immunosuppressive_corticosteroids": "systemic corticosteroid dose",
    "other_immunosuppressants": "other immunosuppressive medication",
    "active_chronic_infection": "tuberculosis, hepatitis B, hepatitis C and HIV status",
    "resting_hypoxia": "oxygen saturation at rest",
    "haemoglobin_below_withhold_level": "haemoglobin",
    "female": "sex",
    "gi_perforation_risk": "GI perforation or fistula history or risk",
}


def fact_label(name: str) -> str:
    """How a clinician would name the fact (for 'not recorded' lists)."""
    return _LABELS.get(name, name.replace("_", " "))


_SOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "ici_rechallenge_barred": (
        "immune_related_adverse_events",
        "prior_severe_immune_related_adverse_event",
    ),
    "ctla4_rechallenge_barred": ("immune_related_adverse_events",),
    "ici_rechallenge_questioned": ("immune_related_adverse_events",),
    "ici_prior_grade3_irae": ("immune_related_adverse_events",),
    "transplant_of_unrecorded_organ": ("organ_transplant",),
    "heart_liver_or_lung_transplant": ("transplanted_organs", "organ_transplant"),
    "kidney_or_other_transplant": ("transplanted_organs", "organ_transplant"),
    "active_autoimmune_disease": ("active_autoimmune_disease", "autoimmune_diseases"),
    "myasthenia_gravis": ("autoimmune_diseases",),
    "immunosuppressive_corticosteroids": (
        "corticosteroid_prednisone_mg_per_day",
        "systemic_steroids_over_10mg",
    ),
    "steroids_over_10mg": ("corticosteroid_prednisone_mg_per_day", "systemic_steroids_over_10mg"),
}


_IRAE_FACTS = frozenset(
    {
        "ici_rechallenge_barred",
        "ctla4_rechallenge_barred",
        "ici_rechallenge_questioned",
        "ici_prior_grade3_irae",
    }
)


def fact_source(case: Case, name: str) -> str:
    """The record the fact came from (FHIR reference or case-file field)."""
    c = case.comorbidities
    if name in _IRAE_FACTS:
        for event in c.immune_related_adverse_events or ():
            if event.source and (
                name != "ctla4_rechallenge_barred" or event.organ is IrAEOrgan.COLITIS
            ):
                return event.source
    if name == "myasthenia_gravis":
        for disease in c.autoimmune_diseases or ():
            if disease.source and disease.disease is AutoimmuneDisease.MYASTHENIA_GRAVIS:
                return disease.source
    if name == "active_chronic_infection":
        found = next(iter(c.infections.sources.values()), None)
        return found or "comorbidities.infections"
    if name == "resting_hypoxia":
        spo2 = case.vitals.oxygen_saturation
        return (spo2.source if spo2 else None) or case.vitals.source or "vitals"
    if name == "haemoglobin_below_withhold_level":
        hb = case.labs.hemoglobin
        return (hb.source if hb else None) or "labs.hemoglobin"
    if name == "female":
        return "sex"
    for field in _SOURCE_FIELDS.get(name, (name,)):
        if field in c.sources:
            return c.sources[field]
    return f"comorbidities.{_SOURCE_FIELDS.get(name, (name,))[0]}"


def recorded_detail(case: Case, name: str, kb: KnowledgeBase) -> str | None:
    """What the record holds about a fact, when it says more than yes (for messages)."""
    c = case.comorbidities
    if name == "ici_rechallenge_barred":
        events = barring_events(case, kb)
        return "; ".join(events) if events else None
    if name == "ctla4_rechallenge_barred":
        events = severe_colitis_events(case, kb)
        return "; ".join(events) if events else None
    if name in ("ici_rechallenge_questioned", "ici_prior_grade3_irae"):
        events = grade3_events(case, kb, questioned=name == "ici_rechallenge_questioned")
        return "; ".join(events) if events else None
    if name in ("heart_liver_or_lung_transplant", "kidney_or_other_transplant"):
        organs = ", ".join(o.value for o in c.transplanted_organs or ())
        return f"{organs} transplant" if organs else None
    if name == "immunosuppressive_corticosteroids":
        dose = c.corticosteroid_prednisone_mg_per_day
        return f"prednisone equivalent {dose:g} mg/day" if dose is not None else None
    if name == "other_immunosuppressants":
        return ", ".join(c.other_immunosuppressants or ()) or None
    if name == "active_chronic_infection":
        active = [
            label
            for label, status in (
                ("tuberculosis", c.infections.tuberculosis),
                ("hepatitis B", c.infections.hepatitis_b),
                ("hepatitis C", c.infections.hepatitis_c),
                ("HIV", c.infections.hiv),
            )
            if status is not None and status.value == "active"
        ]
        return "active " + ", ".join(active) if active else None
    if name == "resting_hypoxia":
        spo2 = case.vitals.oxygen_saturation
        if case.vitals.supplemental_oxygen:
            return "on supplemental oxygen"
        return f"SpO2 {spo2.value:g}%" if spo2 is not None else None
    if name == "haemoglobin_below_withhold_level" and case.labs.hemoglobin is not None:
        hb = case.labs.hemoglobin
        return f"haemoglobin {hb.value:g} {hb.unit}"
    return None


def rule_message(case: Case, name: str, message: str, kb: KnowledgeBase) -> str:
    """The contraindication's message, preceded by what the record holds when it says more."""
    detail = recorded_detail(case, name, kb)
    return f"Recorded: {detail}. {message}" if detail else message
