"""Radiotherapy, embolization, palliative nephrectomy, bone-targeted agents; emergencies."""

from __future__ import annotations

from rccnav.core.assessment import LocalMeasure, Reason, Severity, Warning
from rccnav.core.baseline import Baseline
from rccnav.core.case import Case, Site
from rccnav.core.decisions import hypercalcaemia
from rccnav.core.decisions.common import (
    because,
    brain_metastases,
    good_performance,
    primary_symptomatic,
)
from rccnav.knowledge.model import KnowledgeBase


def _measure(kb: KnowledgeBase, rule_id: str, title: str, urgency: str) -> LocalMeasure:
    return LocalMeasure(rule_id, title, urgency, (because(kb, rule_id),))  # type: ignore[arg-type]


def _untreated_lesions(case: Case) -> int | None:
    """Lesions not yet resected or irradiated; unknown if any such site lacks a count."""
    present = [m for m in case.disease.metastases if m.treated is not True]
    if not present:
        return 0 if case.disease.metastases else None
    counts = [m.lesions for m in present]
    if any(c is None for c in counts):
        return None
    return sum(c for c in counts if c is not None)


def decide(
    case: Case,
    baseline: Baseline,
    kb: KnowledgeBase,
    current_therapy: tuple[str, ...] | None = None,
    *,
    first_line_started: bool | None = None,
    calcium: hypercalcaemia.Calcium | None = None,
) -> tuple[LocalMeasure, ...]:
    """Local measures for ``case``.

    ``first_line_started``: whether systemic therapy for metastatic disease has
    begun. Brain imaging is asked for when brain status is not recorded and the
    first systemic therapy is still to be chosen (EAU 2022: image the brain when
    systemic therapy or cytoreductive nephrectomy is being considered); once a
    first line has started that staging decision is behind the patient, so the
    request is not repeated at every later visit. ``None`` (not known) asks.
    ``calcium``: the hypercalcaemia assessment, when the caller has it already.
    """
    measures: list[LocalMeasure] = []
    d = case.disease
    if calcium is None:
        calcium = hypercalcaemia.assess(case, baseline, kb)
    if calcium.raised:
        measures.append(_hypercalcaemia_measure(calcium, kb))
    if d.spinal_cord_compression:
        measures.append(
            _measure(
                kb, "local.cord-compression", "Spinal cord compression: emergency", "emergency"
            )
        )
    present, untreated = brain_metastases(case)
    if present and untreated:
        measures.append(
            _measure(
                kb, "local.brain-metastases", "Brain metastases: local therapy first", "urgent"
            )
        )
    elif present is None and first_line_started is not True:
        measures.append(
            _measure(
                kb, "local.brain-imaging", "Brain imaging before systemic therapy or CN", "routine"
            )
        )
    if d.pathological_fracture or d.impending_fracture:
        kind = "Pathological" if d.pathological_fracture else "Impending"
        measures.append(
            _measure(
                kb,
                "local.fracture-stabilisation",
                f"{kind} fracture: orthopaedic stabilisation assessment first",
                "urgent",
            )
        )
    bone = [m for m in d.metastases if m.site is Site.BONE]
    if any(m.painful for m in bone):
        measures.append(
            _measure(
                kb,
                "local.painful-bone-radiotherapy",
                "Radiotherapy for painful bone metastases",
                "routine",
            )
        )
    if bone:
        measures.append(_bone_agents(case, baseline, kb, calcium))
    # Only lesions still present: a resected or already irradiated one is not a target,
    # and after complete local therapy (NED) there is nothing left to irradiate.
    lesions = _untreated_lesions(case)
    if (
        d.no_evidence_of_disease is not True
        and lesions is not None
        and 0 < lesions <= kb.param("local.oligometastatic-sbrt", "max_lesions")
    ):
        measures.append(
            _measure(
                kb,
                "local.oligometastatic-sbrt",
                "SBRT to all sites of oligometastatic disease",
                "routine",
            )
        )
    if d.oligoprogression:
        running = " + ".join(current_therapy) if current_therapy else None
        title = (
            f"SBRT (or resection) of the progressing lesions while continuing {running}"
            if running
            else "SBRT (or resection) of the oligoprogressive lesions"
        )
        measures.append(_measure(kb, "local.oligoprogression-sbrt", title, "routine"))
    p = case.primary_tumour
    if not p.removed and primary_symptomatic(case):
        fit = good_performance(case)
        if fit and p.resectable is not False:
            measures.append(
                _measure(
                    kb,
                    "local.palliative-nephrectomy",
                    "Palliative nephrectomy for symptoms from the primary",
                    "routine",
                )
            )
        measures.append(
            _measure(
                kb,
                "local.embolization",
                "Embolization (or radiotherapy) of the primary for bleeding or pain",
                "routine",
            )
        )
    return tuple(measures)


_SEVERITY_URGENCY = {"severe": "emergency", "moderate": "urgent", "present": "urgent"}


def _hypercalcaemia_measure(calcium: hypercalcaemia.Calcium, kb: KnowledgeBase) -> LocalMeasure:
    grade = calcium.grade or "present"
    label = "severity not graded" if grade == "present" else grade
    urgency = _SEVERITY_URGENCY.get(grade, "routine")
    title = f"Hypercalcaemia ({calcium.evidence}; {label}): rehydration and antiresorptive"
    return LocalMeasure(
        "emergency.hypercalcaemia",
        title,
        urgency,  # type: ignore[arg-type]
        (because(kb, hypercalcaemia.RULE),),
    )


def _renal_function(case: Case, baseline: Baseline) -> tuple[float | None, str]:
    """(value in mL/min, description) from creatinine clearance, else eGFR."""
    crcl = baseline.labs.get("creatinine_clearance")
    if crcl is not None:
        method = case.labs.creatinine_clearance_method
        how = f", {method.value}" if method is not None else _computed(crcl.method)
        return crcl.value, f"creatinine clearance {crcl.value:g} mL/min{how}"
    egfr = baseline.labs.get("egfr")
    if egfr is not None:
        method = case.labs.egfr_method
        how = f", {method.value}" if method is not None else _computed(egfr.method)
        return egfr.value, f"eGFR {egfr.value:g} mL/min/1.73 m2{how}"
    return None, ""


def _computed(method: str | None) -> str:
    """The equation a value was calculated with from creatinine (core/renal_function.py)."""
    return f", calculated by {method}" if method else ""


def _zoledronic_dose(value: float, kb: KnowledgeBase) -> str:
    rule = "local.zoledronic-renal"
    if value > kb.param(rule, "dose_4_0_above"):
        return "4.0 mg"
    if value >= kb.param(rule, "dose_3_5_from"):
        return "3.5 mg"
    if value >= kb.param(rule, "dose_3_3_from"):
        return "3.3 mg"
    if value >= kb.param(rule, "dose_3_0_from"):
        return "3.0 mg"
    return "not recommended (denosumab instead)"


def _renal_reasons(case: Case, baseline: Baseline, kb: KnowledgeBase) -> list[Reason]:
    value, described = _renal_function(case, baseline)
    rule = "local.zoledronic-renal"
    if value is None:
        return [
            because(
                kb,
                rule,
                "Renal function is not known: measure creatinine and calculate creatinine "
                "clearance before zoledronic acid (dose by clearance; not below 30 mL/min).",
            )
        ]
    estimated_only = "creatinine_clearance" not in baseline.labs
    dose = _zoledronic_dose(value, kb)
    reasons: list[Reason] = []
    if estimated_only:
        reasons.append(because(kb, "local.renal-method"))
        text = (
            f"Only {described} is known: on that figure zoledronic acid would be {dose}; "
            "confirm with Cockcroft-Gault creatinine clearance before dosing."
        )
    else:
        text = f"Zoledronic acid for {described}: {dose} (label table)."
    reasons.append(because(kb, rule, text))
    if value < kb.param("local.denosumab-ckd", "crcl_below_ml_min"):
        reasons.append(because(kb, "local.denosumab-ckd"))
    return reasons


def _bone_agents(
    case: Case, baseline: Baseline, kb: KnowledgeBase, calcium: hypercalcaemia.Calcium
) -> LocalMeasure:
    measure = _measure(
        kb,
        "local.bone-targeted-agents",
        "Bone-targeted agent (zoledronic acid or denosumab)",
        "routine",
    )
    if calcium.raised:
        supplement = because(kb, "local.bone-no-calcium-while-hypercalcaemic")
    elif calcium.raised is False:
        supplement = because(kb, "local.bone-calcium-vitamin-d")
    else:
        supplement = because(kb, "local.bone-calcium-unknown")
    return LocalMeasure(
        measure.id,
        measure.title,
        measure.urgency,
        (*measure.reasons, supplement, *_renal_reasons(case, baseline, kb)),
    )


def urgent_warnings(
    case: Case,
    kb: KnowledgeBase,
    baseline: Baseline | None = None,
    calcium: hypercalcaemia.Calcium | None = None,
) -> list[Warning]:
    """``calcium``: the hypercalcaemia assessment of ``baseline``, when the caller has it."""
    warnings: list[Warning] = []
    if baseline is not None:
        if calcium is None:
            calcium = hypercalcaemia.assess(case, baseline, kb)
        if calcium.raised:
            warnings.append(_hypercalcaemia_warning(calcium, kb))
    d = case.disease
    if d.pathological_fracture or d.impending_fracture:
        rule = kb.rule("local.fracture-stabilisation")
        field = "pathological_fracture" if d.pathological_fracture else "impending_fracture"
        source = d.sources.get(field, f"disease.{field}")
        warnings.append(
            Warning("fracture", "critical", rule.statement, source, rule.id, rule.sources)
        )
    if case.disease.spinal_cord_compression:
        rule = kb.rule("local.cord-compression")
        warnings.append(
            Warning(
                "spinal-cord-compression",
                "critical",
                rule.statement,
                "disease.spinal_cord_compression",
                rule.id,
                rule.sources,
            )
        )
    present, untreated = brain_metastases(case)
    if present:
        rule = kb.rule("local.brain-metastases")
        source = next(
            (m.source for m in case.disease.metastases if m.site is Site.BRAIN and m.source),
            "disease.metastases",
        )
        severity: Severity = "critical" if untreated else "info"
        message = (
            rule.statement
            if untreated
            else "Brain metastases treated locally; confirm control before systemic therapy."
        )
        warnings.append(
            Warning("brain-metastases", severity, message, source, rule.id, rule.sources)
        )
    return warnings


def _hypercalcaemia_warning(calcium: hypercalcaemia.Calcium, kb: KnowledgeBase) -> Warning:
    rule = kb.rule(hypercalcaemia.RULE)
    grade = calcium.grade or "present"
    severity: Severity = "warning" if grade == "mild" else "critical"
    label = "severity not graded: measure corrected calcium" if grade == "present" else grade
    message = (
        f"Hypercalcaemia ({calcium.evidence}; {label}). "
        "Intravenous saline rehydration and an antiresorptive (zoledronic acid 4 mg, or "
        "denosumab when renal function is poor); calcitonin for a rapid effect when severe or "
        "symptomatic; stop calcium and vitamin D supplements and thiazides."
    )
    return Warning("hypercalcaemia", severity, message, calcium.source, rule.id, rule.sources)
