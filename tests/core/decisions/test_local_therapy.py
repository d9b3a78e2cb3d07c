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


def test_bone_metastases(kb: KnowledgeBase) -> None:
    painful = measures(kb, disease={"metastases": [{"site": "bone", "painful": True}]})
    assert {"local.painful-bone-radiotherapy", "local.bone-targeted-agents"} <= set(painful)
    painless = measures(kb, disease={"metastases": [{"site": "bone", "painful": False}]})
    assert "local.painful-bone-radiotherapy" not in painless
    assert "local.bone-targeted-agents" in painless


@pytest.mark.parametrize(("egfr", "caution"), [(25.0, True), (30.0, False), (60.0, False)])
def test_zoledronic_acid_renal_caution(kb: KnowledgeBase, egfr: float, caution: bool) -> None:
    # Avoid zoledronic acid with CrCl < 30 mL/min (reference §9.2).
    found = measures(
        kb,
        disease={"metastases": [{"site": "bone"}]},
        labs={"egfr": lab(egfr, "mL/min/{1.73_m2}")},
    )
    rules = {r.rule for r in found["local.bone-targeted-agents"].reasons}
    assert ("local.zoledronic-renal" in rules) is caution


def test_egfr_after_the_assessment_date_is_ignored(kb: KnowledgeBase) -> None:
    found = measures(
        kb,
        disease={"metastases": [{"site": "bone"}]},
        labs={"egfr": lab(20.0, "mL/min/{1.73_m2}", day=ON + timedelta(days=10))},
    )
    rules = {r.rule for r in found["local.bone-targeted-agents"].reasons}
    assert "local.zoledronic-renal" not in rules


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
