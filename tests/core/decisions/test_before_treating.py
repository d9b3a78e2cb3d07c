"""Before treating: baseline checks and monitoring per offered regimen (labels, SITC 2017,
ASCO 2021 irAE guideline), as knowledge-base data."""

from __future__ import annotations

from datetime import date

import pytest

import rccnav
from rccnav.core.assessment import Assessment, BeforeTreating
from rccnav.core.decisions.before_treating import checks_for
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case


def checks(kb: KnowledgeBase, regimen: str) -> set[str]:
    item = kb.regimens[regimen]
    found = checks_for(item.id, item.name, item.agents, kb)
    return {c.id for c in found.checks} if found else set()


ICI = {
    "ici.thyroid",
    "ici.adrenal-pituitary",
    "ici.glucose",
    "ici.liver",
    "ici.infection-screen",
}
VEGF = {"vegf.blood-pressure", "vegf.urine-protein", "tki.liver", "tki.thyroid"}


def test_io_tki_combination_needs_both_sets_of_checks(kb: KnowledgeBase) -> None:
    found = checks(kb, "axitinib+pembrolizumab")
    assert found >= ICI | VEGF
    assert "tki.qtc" not in found  # axitinib carries no QT warning


@pytest.mark.parametrize("regimen", ["sunitinib", "pazopanib", "lenvatinib+pembrolizumab"])
def test_qt_prolonging_tkis_need_an_ecg(kb: KnowledgeBase, regimen: str) -> None:
    assert "tki.qtc" in checks(kb, regimen)


def test_ipilimumab_nivolumab_has_no_vegf_checks(kb: KnowledgeBase) -> None:
    found = checks(kb, "ipilimumab+nivolumab")
    assert found >= ICI and not (VEGF & found)


def test_belzutifan_needs_hemoglobin_and_oxygen_saturation(kb: KnowledgeBase) -> None:
    found = checks(kb, "belzutifan")
    assert {"belzutifan.hemoglobin", "belzutifan.oxygen", "belzutifan.pregnancy"} <= found
    assert not (ICI & found)


def test_each_check_names_the_agents_that_need_it(kb: KnowledgeBase) -> None:
    item = kb.regimens["axitinib+pembrolizumab"]
    found = checks_for(item.id, item.name, item.agents, kb)
    assert found is not None
    by_id = {c.id: c for c in found.checks}
    assert by_id["ici.thyroid"].agents == ("pembrolizumab",)
    assert by_id["vegf.blood-pressure"].agents == ("axitinib",)
    assert all(c.sources and c.review_status for c in found.checks)


def _assess(kb: KnowledgeBase, **sections: object) -> Assessment:
    return rccnav.assess(make_case(**sections), kb, ON)


def test_every_offered_drug_regimen_has_its_checks(kb: KnowledgeBase) -> None:
    result = _assess(kb)
    offered = [o.regimen for o in result.systemic_therapy.options if o.regimen in kb.regimens]
    listed = {b.option for b in result.before_treating}
    assert offered and set(offered) <= listed
    assert "clinical-trial" not in listed


def test_bone_agents_get_a_dental_review_when_advised(kb: KnowledgeBase) -> None:
    bone = {"metastases": [{"site": "bone", "lesions": 2}], "metastases_recorded": True}
    result = _assess(kb, disease=bone)
    entries: dict[str, BeforeTreating] = {b.option: b for b in result.before_treating}
    assert "bone-targeted-agents" in entries
    ids = {c.id for c in entries["bone-targeted-agents"].checks}
    assert {"bone.dental", "bone.calcium", "bone.renal"} <= ids
    without = _assess(kb)
    assert "bone-targeted-agents" not in {b.option for b in without.before_treating}


def test_the_checks_follow_the_options_shown(kb: KnowledgeBase) -> None:
    # After IO-IO the options are VEGF-TKI based: no checkpoint-inhibitor checks offered.
    after_io = [
        {
            "agents": ["ipilimumab", "nivolumab"],
            "start": "2025-01-10",
            "end": "2026-06-01",
            "stop_reason": "progression",
        }
    ]
    result = rccnav.assess(make_case(prior_therapies=after_io), kb, date(2026, 11, 2))
    assert result.before_treating
    for entry in result.before_treating:
        assert not any(c.id.startswith("ici.") for c in entry.checks), entry.option
