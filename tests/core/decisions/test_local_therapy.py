"""Palliative and local measures, and the emergencies (reference §9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from rccnav.core.assessment import Assessment, LocalMeasure
from rccnav.core.baseline import prepare_baseline
from rccnav.core.decisions import local_therapy
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, lab, make_case


def measures(kb: KnowledgeBase, **case: Any) -> dict[str, LocalMeasure]:
    built = make_case(**case)
    baseline = prepare_baseline(built, kb, ON, 28)
    return {m.id: m for m in local_therapy.decide(built, baseline, kb)}


def test_cord_compression_is_an_emergency(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    found = measures(kb, disease={"spinal_cord_compression": True})
    assert found["local.cord-compression"].urgency == "emergency"
    warnings = [w for w in run(make_case(disease={"spinal_cord_compression": True})).warnings]
    cord = [w for w in warnings if w.code == "spinal-cord-compression"]
    assert cord and cord[0].severity == "critical" and cord[0].rule == "local.cord-compression"


def test_untreated_brain_metastases_first(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    disease = {"metastases": [{"site": "brain", "lesions": 2, "source": "Condition/b1"}]}
    found = measures(kb, disease=disease)
    assert found["local.brain-metastases"].urgency == "urgent"
    warning = [w for w in run(make_case(disease=disease)).warnings if w.code == "brain-metastases"]
    assert warning and warning[0].severity == "critical" and warning[0].source == "Condition/b1"


def test_treated_brain_metastases_are_an_info_warning_only(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    disease = {"metastases": [{"site": "brain", "lesions": 1, "treated": True}]}
    assert "local.brain-metastases" not in measures(kb, disease=disease)
    warning = [w for w in run(make_case(disease=disease)).warnings if w.code == "brain-metastases"]
    assert warning and warning[0].severity == "info"


def test_unknown_brain_status_asks_for_imaging(kb: KnowledgeBase) -> None:
    # EAU 2022: image the brain when systemic therapy or CN is considered.
    assert "local.brain-imaging" in measures(kb, disease={"metastases": [{"site": "lung"}]})
    complete = {"metastases": [{"site": "lung"}], "metastases_recorded": True}
    assert "local.brain-imaging" not in measures(kb, disease=complete)


def test_brain_imaging_is_asked_before_the_first_line_only(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    # EAU 2022: image the brain when systemic therapy (or CN) is being considered; once
    # the first line for metastatic disease has started, that decision is behind us.
    lung = {"metastases": [{"site": "lung"}]}
    untreated = run(make_case(disease=lung))
    assert "local.brain-imaging" in {m.id for m in untreated.local_therapy}
    first_line = {
        "agents": ["sunitinib"],
        "start": (ON - timedelta(days=200)).isoformat(),
        "end": (ON - timedelta(days=20)).isoformat(),
        "stop_reason": "progression",
    }
    treated = run(make_case(disease=lung, prior_therapies=[first_line]))
    assert treated.systemic_therapy.line == 2
    assert "local.brain-imaging" not in {m.id for m in treated.local_therapy}
    # Not known whether a first line started: still asked.
    found = measures(kb, disease=lung)
    assert "local.brain-imaging" in found


def test_bone_metastases(kb: KnowledgeBase) -> None:
    painful = measures(kb, disease={"metastases": [{"site": "bone", "painful": True}]})
    assert {"local.painful-bone-radiotherapy", "local.bone-targeted-agents"} <= set(painful)
    painless = measures(kb, disease={"metastases": [{"site": "bone", "painful": False}]})
    assert "local.painful-bone-radiotherapy" not in painless
    assert "local.bone-targeted-agents" in painless


def bone_reasons(kb: KnowledgeBase, **case: Any) -> list[Any]:
    disease = case.pop("disease", {"metastases": [{"site": "bone"}]})
    return list(measures(kb, disease=disease, **case)["local.bone-targeted-agents"].reasons)


def zoledronic_text(kb: KnowledgeBase, **case: Any) -> str:
    texts = [r.text for r in bone_reasons(kb, **case) if r.rule == "local.zoledronic-renal"]
    assert len(texts) == 1, texts
    return texts[0]


@pytest.mark.parametrize(
    ("crcl", "dose"),
    [
        (75.0, "4.0 mg"),
        (60.0, "3.5 mg"),  # label bands: 50-60 -> 3.5 mg
        (50.0, "3.5 mg"),
        (45.0, "3.3 mg"),
        (40.0, "3.3 mg"),
        (35.0, "3.0 mg"),
        (30.0, "3.0 mg"),
        (29.0, "not recommended"),
    ],
)
def test_zoledronic_acid_dose_by_creatinine_clearance(
    kb: KnowledgeBase, crcl: float, dose: str
) -> None:
    # Zometa label: > 60 4.0; 50-60 3.5; 40-49 3.3; 30-39 3.0; < 30 not recommended.
    text = zoledronic_text(kb, labs={"creatinine_clearance": lab(crcl, "mL/min")})
    assert dose in text and "eGFR" not in text


def test_denosumab_hypocalcaemia_in_advanced_ckd(kb: KnowledgeBase) -> None:
    # Xgeva label: CrCl < 30 mL/min or dialysis -> greater risk of severe hypocalcaemia.
    low = {r.rule for r in bone_reasons(kb, labs={"creatinine_clearance": lab(25.0, "mL/min")})}
    assert "local.denosumab-ckd" in low
    normal = {r.rule for r in bone_reasons(kb, labs={"creatinine_clearance": lab(80.0, "mL/min")})}
    assert "local.denosumab-ckd" not in normal


@pytest.mark.parametrize(("egfr", "dose"), [(25.0, "not recommended"), (45.0, "3.3 mg")])
def test_egfr_only_says_the_label_uses_creatinine_clearance(
    kb: KnowledgeBase, egfr: float, dose: str
) -> None:
    reasons = bone_reasons(kb, labs={"egfr": lab(egfr, "mL/min/{1.73_m2}")})
    assert "local.renal-method" in {r.rule for r in reasons}
    text = next(r.text for r in reasons if r.rule == "local.zoledronic-renal")
    assert "Only eGFR" in text and dose in text and "Cockcroft-Gault" in text


def test_unknown_renal_function_asks_for_creatinine(kb: KnowledgeBase) -> None:
    assert "not known" in zoledronic_text(kb)


def test_egfr_after_the_assessment_date_is_ignored(kb: KnowledgeBase) -> None:
    text = zoledronic_text(
        kb, labs={"egfr": lab(20.0, "mL/min/{1.73_m2}", day=ON + timedelta(days=10))}
    )
    assert "not known" in text


@pytest.mark.parametrize(("lesions", "offered"), [(1, True), (5, True), (6, False), (None, False)])
def test_oligometastatic_sbrt(kb: KnowledgeBase, lesions: int | None, offered: bool) -> None:
    # 1-5 lesions (MD Anderson phase II; UTSW series).
    found = measures(kb, disease={"metastases": [{"site": "lung", "lesions": lesions}]})
    assert ("local.oligometastatic-sbrt" in found) is offered


def test_oligoprogression_sbrt(kb: KnowledgeBase) -> None:
    assert "local.oligoprogression-sbrt" in measures(kb, disease={"oligoprogression": True})
    assert "local.oligoprogression-sbrt" not in measures(kb, disease={"oligoprogression": False})


def test_symptomatic_primary_in_a_fit_patient(kb: KnowledgeBase) -> None:
    found = measures(kb, primary_tumour={"in_place": True, "bleeding": True, "resectable": True})
    assert {"local.palliative-nephrectomy", "local.embolization"} <= set(found)


def test_symptomatic_primary_in_an_unfit_patient_gets_embolization_only(kb: KnowledgeBase) -> None:
    # Embolization palliates the primary in patients unfit for surgery (PDQ).
    found = measures(kb, performance={"kps": 50}, primary_tumour={"in_place": True, "pain": True})
    assert "local.embolization" in found
    assert "local.palliative-nephrectomy" not in found


def test_removed_or_asymptomatic_primary_needs_no_palliation(kb: KnowledgeBase) -> None:
    removed = measures(kb, primary_tumour={"in_place": False, "bleeding": True})
    quiet = measures(kb, primary_tumour={"in_place": True, "bleeding": False, "pain": False})
    for found in (removed, quiet):
        assert not {"local.palliative-nephrectomy", "local.embolization"} & set(found)


def test_every_measure_cites_its_rule(kb: KnowledgeBase) -> None:
    found = measures(
        kb,
        disease={
            "spinal_cord_compression": True,
            "oligoprogression": True,
            "metastases": [
                {"site": "bone", "lesions": 2, "painful": True},
                {"site": "brain", "lesions": 1},
            ],
        },
        primary_tumour={"in_place": True, "bleeding": True},
    )
    assert len(found) >= 6
    for measure_id, measure in found.items():
        assert measure.reasons[0].rule == measure_id
        assert measure.reasons[0].sources


# --- hypercalcaemia (issue 8: corrected Ca 14.1 mg/dL with bone metastases) ---------------


def calcium_case(value: float, **extra: Any) -> dict[str, Any]:
    return {
        "labs": {"calcium_corrected": lab(value, "mg/dL", 8.5, 10.2), **extra.pop("labs", {})},
        "disease": {"metastases": [{"site": "bone"}]},
        **extra,
    }


@pytest.mark.parametrize(
    ("value", "grade", "urgency", "severity"),
    [
        (14.1, "severe", "emergency", "critical"),  # >= 14 mg/dL (3.5 mmol/L)
        (14.0, "severe", "emergency", "critical"),
        (13.9, "moderate", "urgent", "critical"),  # 12 to < 14
        (12.0, "moderate", "urgent", "critical"),
        (11.0, "mild", "routine", "warning"),  # above the ULN, < 12
    ],
)
def test_hypercalcaemia_alert_by_severity(
    kb: KnowledgeBase,
    run: Callable[..., Assessment],
    value: float,
    grade: str,
    urgency: str,
    severity: str,
) -> None:
    found = measures(kb, **calcium_case(value))
    alert = found["emergency.hypercalcaemia"]
    assert alert.urgency == urgency and grade in alert.title
    warnings = [
        w for w in run(make_case(**calcium_case(value))).warnings if w.code == "hypercalcaemia"
    ]
    assert len(warnings) == 1 and warnings[0].severity == severity
    assert "rehydration" in warnings[0].message and "antiresorptive" in warnings[0].message


def test_no_calcium_and_vitamin_d_advice_while_hypercalcaemic(kb: KnowledgeBase) -> None:
    bone = measures(kb, **calcium_case(14.1))["local.bone-targeted-agents"]
    rules = {r.rule for r in bone.reasons}
    assert "local.bone-no-calcium-while-hypercalcaemic" in rules
    assert "local.bone-calcium-vitamin-d" not in rules
    positive = [
        r.text for r in bone.reasons if r.rule != "local.bone-no-calcium-while-hypercalcaemic"
    ]
    assert not any("give calcium and vitamin D" in t for t in positive)


def test_normal_calcium_gets_calcium_and_vitamin_d(kb: KnowledgeBase) -> None:
    bone = measures(kb, **calcium_case(9.4))["local.bone-targeted-agents"]
    rules = {r.rule for r in bone.reasons}
    assert "local.bone-calcium-vitamin-d" in rules
    assert "emergency.hypercalcaemia" not in measures(kb, **calcium_case(9.4))


def test_unknown_calcium_asks_for_it_before_supplements(kb: KnowledgeBase) -> None:
    found = measures(
        kb,
        labs={"calcium_total": None, "albumin": None},
        disease={"metastases": [{"site": "bone"}]},
    )
    rules = {r.rule for r in found["local.bone-targeted-agents"].reasons}
    assert "local.bone-calcium-unknown" in rules and "local.bone-calcium-vitamin-d" not in rules


def test_payne_corrected_calcium_triggers_the_alert(kb: KnowledgeBase) -> None:
    # Total 12.9 mg/dL with albumin 2.5 g/dL -> corrected 14.1 (Payne): severe.
    found = measures(
        kb,
        labs={
            "calcium_total": lab(12.9, "mg/dL", 8.5, 10.2),
            "albumin": lab(2.5, "g/dL", 3.5, 5.0),
        },
    )
    assert found["emergency.hypercalcaemia"].urgency == "emergency"


def test_recorded_hypercalcaemia_without_a_value_is_ungraded(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    case = {
        "labs": {"calcium_total": None, "albumin": None},
        "disease": {"hypercalcaemia": True, "sources": {"hypercalcaemia": "Condition/hc"}},
    }
    alert = measures(kb, **case)["emergency.hypercalcaemia"]
    assert alert.urgency == "urgent" and "not graded" in alert.title
    warning = [w for w in run(make_case(**case)).warnings if w.code == "hypercalcaemia"]
    assert warning and warning[0].source == "Condition/hc" and warning[0].severity == "critical"


# --- fractures -----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["pathological_fracture", "impending_fracture"])
def test_fracture_needs_orthopaedic_stabilisation_first(
    kb: KnowledgeBase, run: Callable[..., Assessment], flag: str
) -> None:
    disease = {
        "metastases": [{"site": "bone", "painful": True}],
        flag: True,
        "sources": {flag: "Condition/fx"},
    }
    found = measures(kb, disease=disease)
    assert found["local.fracture-stabilisation"].urgency == "urgent"
    warning = [w for w in run(make_case(disease=disease)).warnings if w.code == "fracture"]
    assert warning and warning[0].severity == "critical" and warning[0].source == "Condition/fx"
    assert "orthopaedic" in warning[0].message


def test_no_fracture_no_stabilisation(kb: KnowledgeBase) -> None:
    found = measures(kb, disease={"metastases": [{"site": "bone"}], "pathological_fracture": False})
    assert "local.fracture-stabilisation" not in found


def test_total_calcium_without_albumin_is_raised_but_not_called_mild(kb: KnowledgeBase) -> None:
    # Total 14.5 mg/dL, albumin not recorded: at least 12.1 mg/dL corrected for any plausible
    # albumin (<= 7.0 g/dL), so raised; the true band could be severe, so never "mild".
    found = measures(
        kb,
        labs={"calcium_total": lab(14.5, "mg/dL", 8.5, 10.2), "albumin": None},
        disease={"metastases": [{"site": "bone"}]},
    )
    alert = found["emergency.hypercalcaemia"]
    assert alert.urgency in ("urgent", "emergency") and "mild" not in alert.title
    rules = {r.rule for r in found["local.bone-targeted-agents"].reasons}
    assert "local.bone-no-calcium-while-hypercalcaemic" in rules


def test_total_calcium_low_enough_for_any_albumin_is_not_raised(kb: KnowledgeBase) -> None:
    found = measures(
        kb,
        labs={"calcium_total": lab(7.0, "mg/dL", 8.5, 10.2), "albumin": None},
        disease={"metastases": [{"site": "bone"}]},
    )
    assert "emergency.hypercalcaemia" not in found


def test_creatinine_and_weight_give_a_cockcroft_gault_dose_naming_the_method(
    kb: KnowledgeBase,
) -> None:
    # Female, born 1958-04-10, creatinine 1.4 mg/dL on ON - 7 days (age 68.5), 60 kg:
    # (140 - 68.5) x 60 / (72 x 1.4) x 0.85 = 36.2 mL/min -> zoledronic acid 3.0 mg.
    text = zoledronic_text(
        kb, labs={"creatinine": lab(1.4, "mg/dL")}, vitals={"weight": {"value": 60, "unit": "kg"}}
    )
    assert "3.0 mg" in text and "Cockcroft-Gault" in text and "Only eGFR" not in text


def test_creatinine_without_weight_gives_a_named_ckd_epi_egfr(kb: KnowledgeBase) -> None:
    text = zoledronic_text(kb, labs={"creatinine": lab(1.4, "mg/dL")})
    assert "Only eGFR" in text and "CKD-EPI 2021" in text
