"""Safety rules that act on the record's safety facts (issue 8), each from its source.

Sources: ASCO irAE guideline (Schneider 2021); transplant series (Abdel-Wahab 2019,
d'Izarny-Gargas 2020); CheckMate 214 / KEYNOTE-426 exclusion criteria; US labels of
the VEGF-targeted agents, belzutifan and aldesleukin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rccnav.core.assessment import Assessment, SystemicTherapy
from rccnav.core.case import Case, IrAEOrgan
from rccnav.core.decisions import aldesleukin_fitness, systemic_therapy
from rccnav.core.decisions.lines import current_line
from rccnav.core.decisions.safety_facts import fact, irae_threshold, is_known_fact
from rccnav.knowledge.model import CHECKPOINT_CLASSES, KnowledgeBase

from ..conftest import ON, make_case, risk_result


def decide(kb: KnowledgeBase, case: Case, group: str = "intermediate") -> SystemicTherapy:
    return systemic_therapy.decide(case, risk_result(group), current_line(case, kb, ON), kb)  # type: ignore[arg-type]


def offered(therapy: SystemicTherapy) -> set[str]:
    return {o.regimen for o in therapy.options}


def excluded_by(therapy: SystemicTherapy) -> dict[str, str | None]:
    return {e.regimen: e.reason.rule for e in therapy.excluded}


def checkpoint_options(kb: KnowledgeBase, therapy: SystemicTherapy) -> set[str]:
    return {
        r
        for r in offered(therapy)
        if r in kb.regimens and kb.regimen_classes(r) & CHECKPOINT_CLASSES
    }


def irae(organ: str, grade: int | None, **extra: Any) -> dict[str, Any]:
    return {"organ": organ, "grade": grade, "agents": ["pembrolizumab"], **extra}


ADJUVANT_PEMBROLIZUMAB = [
    {
        "agents": ["pembrolizumab"],
        "setting": "adjuvant",
        "start": "2024-01-10",
        "end": "2024-05-02",
        "stop_reason": "toxicity",
    }
]

# A patient who meets every high-dose IL-2 criterion on record.
FIT_FOR_IL2: dict[str, Any] = {
    "performance": {"kps": 100},
    "labs": {"creatinine": {"value": 0.9, "unit": "mg/dL", "date": "2026-10-28"}},
    "disease": {"metastases_recorded": True, "metastases": [{"site": "lung", "lesions": 3}]},
    "comorbidities": {
        "active_autoimmune_disease": False,
        "organ_transplant": False,
        "systemic_steroids_over_10mg": False,
        "pregnancy": False,
        "heart_failure": False,
        "cardiac_function_normal": True,
        "pulmonary_function_normal": True,
        "prior_severe_immune_related_adverse_event": False,
    },
}


# --- prior immune-related adverse events (ASCO 2021) ------------------------------------


def test_grade4_myocarditis_on_adjuvant_pembrolizumab_bars_every_checkpoint_and_il2(
    kb: KnowledgeBase,
) -> None:
    # The tumour-board case: grade 4 immune myocarditis on adjuvant pembrolizumab, relapse.
    case = make_case(
        prior_therapies=ADJUVANT_PEMBROLIZUMAB,
        comorbidities={
            "immune_related_adverse_events": [irae("myocarditis", 4, source="AdverseEvent/m1")]
        },
    )
    therapy = decide(kb, case)
    assert not checkpoint_options(kb, therapy)
    assert "aldesleukin" not in offered(therapy)
    gone = excluded_by(therapy)
    assert gone["aldesleukin"] == "ici.prior-severe-irae"
    assert {r for r, rule in gone.items() if rule == "ici.prior-severe-irae"} >= {
        "axitinib+pembrolizumab",
        "cabozantinib+nivolumab",
        "lenvatinib+pembrolizumab",
    }
    # The reason names the recorded event, not only the rule.
    reason = next(e.reason for e in therapy.excluded if e.regimen == "axitinib+pembrolizumab")
    assert "grade 4 immune myocarditis on pembrolizumab" in reason.text


@pytest.mark.parametrize(
    ("organ", "grade", "barred"),
    [
        ("myocarditis", 1, False),
        ("myocarditis", 2, True),  # ASCO: myocarditis grade >= 2 -> permanently discontinue
        ("pneumonitis", 2, False),
        ("pneumonitis", 3, True),
        ("myasthenia-gravis", 3, True),
        ("colitis", 3, False),  # grade 3 colitis on PD-1: resumption may be considered
        ("colitis", 4, True),  # any grade 4 ...
        ("hepatitis", 4, True),
        ("endocrine", 4, False),  # ... except an endocrinopathy controlled by replacement
        ("skin", 2, False),
        ("skin", 3, False),  # a rash: withheld, resumed after recovery (labels)
        # Confirmed SJS, TEN or DRESS: permanently discontinue at any grade (labels, ASCO).
        ("severe-skin-reaction", 2, True),
        ("severe-skin-reaction", None, True),  # an event is grade 1 at least: bars unrecorded
        # ASCO 2018 Table 10: uveitis G3 (posterior or panuveitis) -> permanently discontinue.
        ("ocular", 3, True),
        ("ocular", 2, False),  # anterior uveitis: resume once off systemic steroids
    ],
)
def test_which_prior_irae_bars_rechallenge(
    kb: KnowledgeBase, organ: str, grade: int | None, barred: bool
) -> None:
    case = make_case(comorbidities={"immune_related_adverse_events": [irae(organ, grade)]})
    assert fact(case, "ici_rechallenge_barred", kb) is barred
    therapy = decide(kb, case)
    assert bool(checkpoint_options(kb, therapy)) is not barred


@pytest.mark.parametrize(
    ("organ", "grade", "questioned", "caution"),
    [
        # ASCO 2021: grade 3 hepatitis -> consider permanent discontinuation; labels stop at
        # AST/ALT > 8x ULN or bilirubin > 3x ULN. Grade 3 nephritis: ASCO stops, labels resume.
        ("hepatitis", 3, True, False),
        ("nephritis", 3, True, False),
        ("hepatitis", 2, False, False),
        ("nephritis", 2, False, False),
        ("hepatitis", 4, False, False),  # barred outright, not merely questioned
        # Labels: a first grade 3 reaction is withheld and may be resumed after recovery.
        ("skin", 3, False, True),
        ("colitis", 3, False, True),
        ("arthritis", 3, False, True),
        ("skin", 2, False, False),
        ("skin", 4, False, False),  # barred outright
        ("pneumonitis", 3, False, False),  # barred outright from grade 3
        ("endocrine", 3, False, False),  # replacement-controlled endocrinopathy: no bar
    ],
)
def test_grade_3_irae_below_the_bar_questions_or_cautions_rechallenge(
    kb: KnowledgeBase, organ: str, grade: int, questioned: bool, caution: bool
) -> None:
    case = make_case(comorbidities={"immune_related_adverse_events": [irae(organ, grade)]})
    assert fact(case, "ici_rechallenge_questioned", kb) is questioned
    assert fact(case, "ici_prior_grade3_irae", kb) is caution
    therapy = decide(kb, case)
    with_ici = {
        o.regimen: o for o in therapy.options if o.regimen in checkpoint_options(kb, therapy)
    }
    if fact(case, "ici_rechallenge_barred", kb):
        assert not with_ici
        return
    assert with_ici  # never silently dropped below the bar
    demoted = {r for r, o in with_ici.items() if o.contraindicated}
    assert (demoted == set(with_ici)) is questioned
    cautioned = {
        r for r, o in with_ici.items() if any("same grade 3 reaction" in c for c in o.cautions)
    }
    assert (cautioned == set(with_ici)) is caution
    if questioned:
        texts = [r.text for o in with_ici.values() for r in o.reasons]
        assert any(f"grade 3 immune {organ} on pembrolizumab" in t for t in texts)


def test_grade_3_hepatitis_of_unknown_grade_is_named_not_ignored(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"immune_related_adverse_events": [irae("hepatitis", None)]})
    assert fact(case, "ici_rechallenge_questioned", kb) is None
    therapy = decide(kb, case)
    assert checkpoint_options(kb, therapy)
    unknown = [r.text for r in therapy.reasons if r.rule == "therapy.contraindications-unknown"]
    assert unknown and "prior immune-related adverse events" in unknown[0]


def test_irae_of_unknown_grade_is_unknown_and_named(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"immune_related_adverse_events": [irae("myocarditis", None)]})
    assert fact(case, "ici_rechallenge_barred", kb) is None
    therapy = decide(kb, case)
    assert checkpoint_options(kb, therapy)  # unknown never excludes ...
    unknown = [r.text for r in therapy.reasons if r.rule == "therapy.contraindications-unknown"]
    assert unknown and "prior immune-related adverse events" in unknown[0]  # ... it is named


def test_no_irae_recorded_is_no_bar(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"immune_related_adverse_events": []})
    assert fact(case, "ici_rechallenge_barred", kb) is False


def test_every_irae_organ_has_a_threshold_or_an_explicit_exemption(kb: KnowledgeBase) -> None:
    thresholds = {organ: irae_threshold(organ, kb) for organ in IrAEOrgan}
    assert thresholds[IrAEOrgan.ENDOCRINE] is None
    assert all(
        t is not None and 1 <= t <= 4 for o, t in thresholds.items() if o is not IrAEOrgan.ENDOCRINE
    )


def test_proposed_pembrolizumab_after_barring_irae_is_a_critical_warning(
    run: Callable[..., Assessment],
) -> None:
    case = make_case(
        proposed_therapy={"agents": ["pembrolizumab"]},
        comorbidities={
            "immune_related_adverse_events": [irae("myocarditis", 2, source="Condition/myo")]
        },
    )
    hits = [w for w in run(case).warnings if w.rule == "ici.prior-severe-irae"]
    assert hits and hits[0].severity == "critical" and hits[0].source == "Condition/myo"


# --- transplant by organ -------------------------------------------------------------------


@pytest.mark.parametrize("organ", ["heart", "liver", "lung"])
def test_heart_liver_lung_recipients_get_no_checkpoint_inhibitor(
    kb: KnowledgeBase, organ: str
) -> None:
    case = make_case(comorbidities={"organ_transplant": True, "transplanted_organs": [organ]})
    therapy = decide(kb, case)
    assert not checkpoint_options(kb, therapy)
    assert excluded_by(therapy)["ipilimumab+nivolumab"] == "ici.transplant-heart-liver-lung"
    reason = next(e.reason for e in therapy.excluded if e.regimen == "ipilimumab+nivolumab")
    assert f"Recorded: {organ} transplant" in reason.text


def test_kidney_recipient_checkpoint_inhibitors_are_a_strong_relative_contraindication(
    kb: KnowledgeBase,
) -> None:
    case = make_case(comorbidities={"organ_transplant": True, "transplanted_organs": ["kidney"]})
    therapy = decide(kb, case)
    ici = checkpoint_options(kb, therapy)
    assert ici  # still shown, as a strong relative contraindication ...
    for regimen in ici:
        opt = next(o for o in therapy.options if o.regimen == regimen)
        assert opt.category != "preferred"
        assert any(r.rule == "ici.transplant-kidney" for r in opt.reasons)
    assert "aldesleukin" not in offered(therapy)  # label: contraindicated in allograft recipients


def test_transplant_of_unrecorded_organ_asks_for_the_organ(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"organ_transplant": True})
    therapy = decide(kb, case)
    opt = next(o for o in therapy.options if o.regimen == "ipilimumab+nivolumab")
    assert any(
        r.rule == "ici.organ-transplant" and "record which organ" in r.text for r in opt.reasons
    )


def test_transplant_warning_names_the_record(run: Callable[..., Assessment]) -> None:
    case = make_case(
        proposed_therapy={"agents": ["nivolumab", "ipilimumab"]},
        comorbidities={
            "organ_transplant": True,
            "transplanted_organs": ["liver"],
            "sources": {"transplanted_organs": "Procedure/ltx"},
        },
    )
    # The contraindication warning itself (the proposal's own "not recommended here" warning
    # may cite the same rule, since the regimen is excluded for it).
    hits = [
        w
        for w in run(case).warnings
        if w.rule == "ici.transplant-heart-liver-lung" and w.code != "regimen-not-recommended"
    ]
    assert hits and hits[0].severity == "critical" and hits[0].source == "Procedure/ltx"


# --- GI perforation, hepatic impairment, pregnancy (labels) ----------------------------------


def test_gi_perforation_list_covers_every_vegf_agent_with_the_label_warning(
    kb: KnowledgeBase,
) -> None:
    rule = next(c for c in kb.contraindications if c.id == "tki.perforation")
    assert {
        "bevacizumab",
        "axitinib",
        "pazopanib",
        "cabozantinib",
        "lenvatinib",
        "sunitinib",
        "sorafenib",
        "tivozanib",
    } <= set(rule.agents)


def test_after_bowel_perforation_pembrolizumab_axitinib_is_not_preferred(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(comorbidities={"gi_perforation_risk": True}), "favorable")
    assert "axitinib+pembrolizumab" not in therapy.preferred
    opt = next(o for o in therapy.options if o.regimen == "axitinib+pembrolizumab")
    assert any(r.rule == "tki.perforation" for r in opt.reasons)


def test_hepatic_impairment_list(kb: KnowledgeBase) -> None:
    rule = next(c for c in kb.contraindications if c.id == "tki.hepatic")
    assert {"pazopanib", "sunitinib", "cabozantinib", "axitinib", "lenvatinib", "tivozanib"} <= set(
        rule.agents
    )


@pytest.mark.parametrize("agent", ["aldesleukin", "interferon-alfa-2b"])
def test_pregnancy_rule_includes_cytokines(kb: KnowledgeBase, agent: str) -> None:
    rule = next(c for c in kb.contraindications if c.id == "pregnancy.all-systemic")
    assert kb.agents[agent].agent_class in rule.agent_classes


# --- steroids, immunosuppressants, infections (trial exclusions) ------------------------------


@pytest.mark.parametrize(
    ("comorbidities", "expected"),
    [
        ({"corticosteroid_prednisone_mg_per_day": 20}, True),
        (
            {"corticosteroid_prednisone_mg_per_day": 20, "corticosteroid_replacement_only": True},
            False,
        ),
        ({"corticosteroid_prednisone_mg_per_day": 5}, False),
        ({"systemic_steroids_over_10mg": True}, True),
        ({}, None),
    ],
)
def test_immunosuppressive_steroids(
    kb: KnowledgeBase, comorbidities: dict[str, Any], expected: bool | None
) -> None:
    assert (
        fact(make_case(comorbidities=comorbidities), "immunosuppressive_corticosteroids", kb)
        is expected
    )


def test_trial_exclusions_are_cited_as_trials_not_labels(kb: KnowledgeBase) -> None:
    for rule_id in ("ici.steroids", "ici.chronic-infection", "ici.pneumonitis", "ici.autoimmune"):
        rule = next(c for c in kb.contraindications if c.id == rule_id)
        assert {"checkmate-214", "keynote-426"} <= set(rule.sources), rule_id


def test_active_hepatitis_b_demotes_checkpoint_inhibitors(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"infections": {"hepatitis_b": "active"}})
    therapy = decide(kb, case)
    ici = checkpoint_options(kb, therapy)
    assert ici and all(
        next(o for o in therapy.options if o.regimen == r).category != "preferred" for r in ici
    )


def test_tacrolimus_demotes_checkpoint_inhibitors(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"other_immunosuppressants": ["tacrolimus"]})
    therapy = decide(kb, case)
    opt = next(o for o in therapy.options if o.regimen == "cabozantinib+nivolumab")
    assert any(r.rule == "ici.other-immunosuppressants" for r in opt.reasons)


def test_myasthenia_gravis_even_quiescent_demotes_checkpoint_inhibitors(kb: KnowledgeBase) -> None:
    case = make_case(
        comorbidities={"autoimmune_diseases": [{"disease": "myasthenia-gravis", "active": False}]}
    )
    therapy = decide(kb, case)
    opt = next(o for o in therapy.options if o.regimen == "ipilimumab+nivolumab")
    assert opt.category != "preferred" and any(
        r.rule == "ici.myasthenia-gravis" for r in opt.reasons
    )


# --- belzutifan (label) ------------------------------------------------------------------------

AFTER_PD1_AND_TKI = [
    {
        "agents": ["pembrolizumab", "axitinib"],
        "start": "2025-01-01",
        "end": "2025-09-01",
        "stop_reason": "progression",
    },
    {
        "agents": ["cabozantinib"],
        "start": "2025-09-10",
        "end": "2026-09-01",
        "stop_reason": "progression",
    },
]


def belzutifan(kb: KnowledgeBase, **sections: Any) -> Any:
    therapy = decide(kb, make_case(prior_therapies=AFTER_PD1_AND_TKI, **sections))
    return next(o for o in therapy.options if o.regimen == "belzutifan")


def test_belzutifan_with_normal_spo2_and_hb_stays_preferred_with_contraception_caution(
    kb: KnowledgeBase,
) -> None:
    opt = belzutifan(kb, vitals={"oxygen_saturation": {"value": 97, "unit": "%"}})
    assert opt.category == "preferred"
    assert any("hormonal contraceptives" in c for c in opt.cautions)  # female patient


@pytest.mark.parametrize(
    ("sections", "rule"),
    [
        ({"vitals": {"oxygen_saturation": {"value": 86, "unit": "%"}}}, "belzutifan.hypoxia"),
        ({"vitals": {"supplemental_oxygen": True}}, "belzutifan.hypoxia"),
        (
            {"labs": {"hemoglobin": {"value": 8.6, "unit": "g/dL", "date": "2026-10-28"}}},
            "belzutifan.anaemia",
        ),
    ],
)
def test_belzutifan_hypoxia_and_anaemia_demote_it(
    kb: KnowledgeBase, sections: dict[str, Any], rule: str
) -> None:
    opt = belzutifan(kb, **sections)
    assert opt.category != "preferred"
    assert any(r.rule == rule for r in opt.reasons)


def test_belzutifan_contraception_caution_not_for_men(kb: KnowledgeBase) -> None:
    opt = belzutifan(kb, sex="male")
    assert not any("hormonal contraceptives" in c for c in opt.cautions)


# --- high-dose IL-2: every fitness criterion ----------------------------------------------------


def _merged(changes: dict[str, Any]) -> dict[str, Any]:
    from ..conftest import _merge

    return _merge(FIT_FOR_IL2, changes)


def il2(kb: KnowledgeBase, changes: dict[str, Any]) -> tuple[SystemicTherapy, Any]:
    therapy = decide(kb, make_case(_merged(changes)))
    opt = next((o for o in therapy.options if o.regimen == "aldesleukin"), None)
    return therapy, opt


def test_il2_for_a_patient_meeting_every_criterion(kb: KnowledgeBase) -> None:
    fitness = aldesleukin_fitness.assess(make_case(FIT_FOR_IL2), kb)
    assert fitness.fit is True, fitness
    _, opt = il2(kb, {})
    assert opt is not None and not any("uncertain" in r.text for r in opt.reasons)


@pytest.mark.parametrize(
    ("changes", "unmet"),
    [
        ({"performance": {"kps": 70}}, "performance status"),
        ({"comorbidities": {"cardiac_function_normal": False}}, "cardiac"),
        ({"comorbidities": {"heart_failure": True}}, "cardiac"),
        ({"comorbidities": {"pulmonary_function_normal": False}}, "pulmonary"),
        ({"vitals": {"oxygen_saturation": {"value": 85, "unit": "%"}}}, "pulmonary"),
        ({"labs": {"creatinine": {"value": 2.1, "unit": "mg/dL"}}}, "creatinine"),
        ({"labs": {"creatinine": {"value": 160, "unit": "umol/L"}}}, "creatinine"),
        ({"disease": {"metastases": [{"site": "brain", "lesions": 1, "treated": False}]}}, "brain"),
        ({"comorbidities": {"pregnancy": True}}, "pregnancy"),
        (
            {
                "comorbidities": {
                    "immune_related_adverse_events": [irae("pneumonitis", 3)],
                    "prior_severe_immune_related_adverse_event": None,
                }
            },
            "checkpoint-inhibitor toxicity|permanent discontinuation",
        ),
    ],
)
def test_il2_excluded_when_any_criterion_fails(
    kb: KnowledgeBase, changes: dict[str, Any], unmet: str
) -> None:
    therapy, opt = il2(kb, changes)
    assert opt is None
    reason = next(e.reason for e in therapy.excluded if e.regimen == "aldesleukin")
    assert any(part in reason.text for part in unmet.split("|"))
    # The fitness assessment itself names the failed criterion, whichever rule acted first.
    fitness = aldesleukin_fitness.assess(make_case(_merged(changes)), kb)
    assert fitness.fit is False


@pytest.mark.parametrize(
    ("changes", "settle"),
    [
        ({"comorbidities": {"cardiac_function_normal": None}}, "cardiac function"),
        ({"comorbidities": {"pulmonary_function_normal": None}}, "pulmonary function tests"),
        ({"labs": {"creatinine": None}}, "serum creatinine"),
        ({"disease": {"metastases_recorded": None}}, "brain imaging"),
        ({"birth_date": None}, "date of birth"),
    ],
)
def test_il2_unknown_criterion_is_uncertain_never_silently_ok(
    kb: KnowledgeBase, changes: dict[str, Any], settle: str
) -> None:
    _, opt = il2(kb, changes)
    assert opt is not None
    uncertain = [r.text for r in opt.reasons if "uncertain" in r.text]
    assert uncertain and settle in uncertain[0]


# --- knowledge-base integrity ----------------------------------------------------------------


def test_every_contraindication_names_a_fact_the_core_can_answer(kb: KnowledgeBase) -> None:
    unknown = [c.id for c in kb.contraindications if not is_known_fact(c.comorbidity)]
    assert not unknown


# --- unknown never excludes or demotes ----------------------------------------------------------


@pytest.mark.parametrize("group", ["favorable", "intermediate", "poor"])
@pytest.mark.parametrize(
    "history",
    [
        [],
        ADJUVANT_PEMBROLIZUMAB,
        AFTER_PD1_AND_TKI,
    ],
)
@pytest.mark.parametrize("histology", ["clear-cell", "papillary", "medullary", None])
def test_unknown_safety_facts_never_exclude_or_demote(
    kb: KnowledgeBase, group: str, history: list[dict[str, Any]], histology: str | None
) -> None:
    # Every safety fact unknown (no comorbidities, vitals, sex or safety labs recorded).
    case = make_case(
        sex=None,
        prior_therapies=history,
        diagnosis={"histology": histology},
        labs={"hemoglobin": None},
    )
    therapy = decide(kb, case, group)
    safety_rules = {c.id for c in kb.contraindications}
    assert not [e.regimen for e in therapy.excluded if e.reason.rule in safety_rules]
    for option in therapy.options:
        assert not [r.rule for r in option.reasons if r.rule in safety_rules], option.regimen
    if therapy.options:
        unknown = [r for r in therapy.reasons if r.rule == "therapy.contraindications-unknown"]
        assert unknown, "unknown safety facts that could change the options are not named"
