"""Genetic subtypes that change management; who should be offered genetic evaluation."""

from __future__ import annotations

from rccnav.core.assessment import Decision, Reason
from rccnav.core.case import Case, Gene, Histology, SickleStatus
from rccnav.core.decisions.common import because
from rccnav.knowledge.model import KnowledgeBase

_SUGGESTIVE = {Histology.FH_DEFICIENT, Histology.SDH_DEFICIENT}
_GENE_RULES = {
    Gene.VHL: "genetics.vhl",
    Gene.FH: "genetics.fh",
    Gene.MET: "genetics.met",
    Gene.FLCN: "genetics.flcn",
    Gene.SDHB: "genetics.sdh",
    Gene.SDHC: "genetics.sdh",
    Gene.SDHD: "genetics.sdh",
    Gene.TSC1: "genetics.tsc",
    Gene.TSC2: "genetics.tsc",
}


def _age_at_diagnosis(case: Case) -> int | None:
    born, diagnosed = case.birth_date, case.diagnosis.date
    if born is None or diagnosed is None:
        return None
    return diagnosed.year - born.year - ((diagnosed.month, diagnosed.day) < (born.month, born.day))


def _sickle_haemoglobin(case: Case, kb: KnowledgeBase) -> tuple[Reason | None, tuple[str, ...]]:
    """Renal medullary carcinoma: sickle haemoglobin status (Alvarez 2015)."""
    if case.diagnosis.histology is not Histology.MEDULLARY:
        return None, ()
    rule = "genetics.medullary-sickle-cell"
    status = case.comorbidities.sickle_cell
    if status is None:
        text = (
            "Renal medullary carcinoma and sickle haemoglobin status not recorded: test for "
            "sickle haemoglobin (haemoglobin electrophoresis); sickle-cell trait is present in "
            "almost every case and relatives may carry it."
        )
        return because(kb, rule, text), ("sickle haemoglobin status",)
    if status is SickleStatus.NONE:
        text = (
            "Renal medullary carcinoma without sickle haemoglobin is exceptional: review the "
            "diagnosis (SMARCB1/INI1-deficient RCC, unclassified)."
        )
        return because(kb, rule, text), ()
    text = (
        f"Renal medullary carcinoma with sickle-cell {status.value}: inform relatives who may "
        "carry sickle haemoglobin (genetic counselling)."
    )
    return because(kb, rule, text), ()


def decide(case: Case, kb: KnowledgeBase) -> Decision:
    decision = _decide(case, kb)
    sickle, missing = _sickle_haemoglobin(case, kb)
    if sickle is None:
        return decision
    return Decision(
        decision.recommendation,
        (sickle, *decision.reasons),
        tuple(dict.fromkeys((*missing, *decision.unknowns))),
    )


def _decide(case: Case, kb: KnowledgeBase) -> Decision:
    variants = case.germline.pathogenic_variants
    if variants:
        reasons = [because(kb, _GENE_RULES.get(g, "genetics.other-genes")) for g in variants]
        return Decision("known-hereditary-syndrome", tuple(dict.fromkeys(reasons)))
    triggers: list[Reason] = []
    age = _age_at_diagnosis(case)
    max_age = kb.param("genetics.evaluation-triggers", "age_below")
    if age is not None and age < max_age:
        triggers.append(
            because(
                kb, "genetics.evaluation-triggers", f"Age {age} at diagnosis: below {max_age:.0f}."
            )
        )
    if case.germline.bilateral_or_multifocal:
        triggers.append(
            because(kb, "genetics.evaluation-triggers", "Bilateral or multifocal tumours.")
        )
    if case.germline.family_history_of_rcc:
        triggers.append(because(kb, "genetics.evaluation-triggers", "Family history of RCC."))
    if case.diagnosis.histology in _SUGGESTIVE:
        triggers.append(
            because(
                kb,
                "genetics.evaluation-triggers",
                f"Histology ({case.diagnosis.histology}) suggests a hereditary form.",
            )
        )
    if triggers:
        if case.germline.tested:
            return Decision("tested-no-variant", tuple(triggers))
        return Decision("refer-for-genetic-evaluation", tuple(triggers))
    unknowns = tuple(
        name
        for name, unknown in (
            ("age at diagnosis", age is None),
            ("family history of RCC", case.germline.family_history_of_rcc is None),
            ("bilateral or multifocal tumours", case.germline.bilateral_or_multifocal is None),
        )
        if unknown
    )
    return Decision(
        "no-trigger" if not unknowns else "uncertain",
        (because(kb, "genetics.evaluation-triggers"),),
        unknowns,
    )
