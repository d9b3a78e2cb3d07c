"""Safety guard on the proposed therapy (reference §§4.4-4.5, 5.2, 11-13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rccnav.core.assessment import Assessment, Warning
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import make_case


def warnings_for(run: Callable[..., Assessment], *agents: str, **case: Any) -> list[Warning]:
    proposed = {"agents": list(agents), "source": "MedicationRequest/p1"} if agents else None
    return list(run(make_case(proposed_therapy=proposed, **case)).warnings)


def codes(warnings: list[Warning]) -> set[str]:
    return {w.code for w in warnings}


def only(warnings: list[Warning], code: str) -> Warning:
    hits = [w for w in warnings if w.code == code]
    assert len(hits) == 1, f"expected one {code}, got {[(w.code, w.rule) for w in warnings]}"
    return hits[0]


# --- ineffective, experimental, low-benefit -------------------------------------------------


@pytest.mark.parametrize("agents", [("gemcitabine",), ("Taxol",), ("doxorubicin", "gemcitabine")])
def test_chemotherapy_in_clear_cell_is_ineffective(
    run: Callable[..., Assessment], agents: tuple[str, ...]
) -> None:
    # Response rates about 10% or less in clear-cell RCC (PDQ; Yagoda 1995).
    warning = only(warnings_for(run, *agents), "ineffective-therapy")
    assert warning.severity == "critical"
    assert warning.rule == "ineffective.chemotherapy"
    assert warning.source == "MedicationRequest/p1"
    assert warning.sources


@pytest.mark.parametrize("histology", ["collecting-duct", "medullary"])
def test_platinum_chemotherapy_in_collecting_duct_or_medullary_is_standard(
    run: Callable[..., Assessment], histology: str
) -> None:
    warnings = warnings_for(run, "gemcitabine", "cisplatin", diagnosis={"histology": histology})
    assert "ineffective-therapy" not in codes(warnings)
    # Gemcitabine + cisplatin is listed for these histologies: no regimen warning either.
    assert not codes(warnings) & {"nonstandard-regimen", "regimen-not-recommended"}


def test_chemotherapy_with_unknown_histology_names_the_exception(
    run: Callable[..., Assessment],
) -> None:
    warning = only(
        warnings_for(run, "gemcitabine", diagnosis={"histology": None}), "ineffective-therapy"
    )
    assert "collecting-duct" in warning.message


@pytest.mark.parametrize("agent", ["medroxyprogesterone", "Megace"])
def test_progestins_are_ineffective(run: Callable[..., Assessment], agent: str) -> None:
    # MRC RE01 / PERCY Quattro: medroxyprogesterone was the inferior control arm.
    warning = only(warnings_for(run, agent), "ineffective-therapy")
    assert warning.rule == "ineffective.progestins"


@pytest.mark.parametrize(
    ("agent", "rule"),
    [
        ("thalidomide", "experimental.immunomodulators"),
        ("IMA901 peptide vaccine", "experimental.vaccines"),
        ("stem cell transplantation", "experimental.cell-therapy"),
        ("bempegaldesleukin", "experimental.other-interleukins"),
    ],
)
def test_experimental_agents(run: Callable[..., Assessment], agent: str, rule: str) -> None:
    warning = only(warnings_for(run, agent), "experimental-therapy")
    assert warning.rule == rule
    assert warning.severity == "warning"


@pytest.mark.parametrize(
    ("agent", "rule"),
    [("interferon alfa", "low-benefit.interferon"), ("high-dose IL-2", "low-benefit.aldesleukin")],
)
def test_cytokines_are_low_benefit(run: Callable[..., Assessment], agent: str, rule: str) -> None:
    assert only(warnings_for(run, agent), "low-benefit-therapy").rule == rule


# --- regimens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("agents", [("ipilimumab", "cabozantinib"), ("Yervoy", "Cabometyx")])
def test_ipilimumab_plus_cabozantinib_is_nonstandard_and_names_the_likely_regimens(
    kb: KnowledgeBase, run: Callable[..., Assessment], agents: tuple[str, ...]
) -> None:
    # Reference §4.5: the seed conflated nivolumab + ipilimumab and nivolumab + cabozantinib.
    warning = only(warnings_for(run, *agents), "nonstandard-regimen")
    assert warning.severity == "critical"
    assert warning.rule == "nonstandard.cabozantinib-ipilimumab"
    assert kb.regimens["ipilimumab+nivolumab"].name in warning.message
    assert kb.regimens["cabozantinib+nivolumab"].name in warning.message


def test_cosmic_313_triplet_is_nonstandard(run: Callable[..., Assessment]) -> None:
    # COSMIC-313: PFS gain, OS HR 1.02, more toxicity: not a standard regimen (§4.4).
    warning = only(
        warnings_for(
            run, "cabozantinib", "nivolumab", "ipilimumab", diagnosis={"date": "2026-09-01"}
        ),
        "nonstandard-regimen",
    )
    assert warning.rule == "nonstandard.cosmic-313-triplet"


def test_unknown_multi_agent_combination_is_nonstandard(run: Callable[..., Assessment]) -> None:
    warning = only(warnings_for(run, "sunitinib", "pembrolizumab"), "nonstandard-regimen")
    assert warning.rule == "safety.unlisted-combination"
    assert "pembrolizumab + sunitinib" in warning.message


def test_listed_regimen_raises_no_regimen_warning(run: Callable[..., Assessment]) -> None:
    warnings = warnings_for(run, "pembrolizumab", "axitinib")
    assert not codes(warnings) & {
        "nonstandard-regimen",
        "regimen-not-recommended",
        "ineffective-therapy",
        "experimental-therapy",
    }


def test_regimen_not_listed_for_the_risk_group(run: Callable[..., Assessment]) -> None:
    # Temsirolimus (ARCC) is listed for poor risk only; the baseline case is favorable.
    warning = only(warnings_for(run, "temsirolimus"), "regimen-not-recommended")
    assert warning.rule == "safety.regimen-not-listed-for-setting"
    poor = warnings_for(
        run,
        "temsirolimus",
        performance={"kps": 60},
        diagnosis={"date": "2026-09-01"},
        labs={"hemoglobin": {"value": 9.0, "unit": "g/dL", "low": 12.0, "high": 15.5}},
    )
    assert "regimen-not-recommended" not in codes(poor)


def test_ipilimumab_nivolumab_in_favorable_risk_states_the_disagreement(
    run: Callable[..., Assessment],
) -> None:
    # Merged view: shown (NCCN lists it, 2B), but the proposal says EAU/ESMO do not.
    warning = only(warnings_for(run, "nivolumab", "ipilimumab"), "guideline-disagreement")
    assert "EAU and ESMO do not recommend it" in warning.message
    assert "checkmate-214-42mo" in warning.sources


def test_ipilimumab_nivolumab_in_favorable_risk_is_excluded_in_the_eau_view(
    run: Callable[..., Assessment],
) -> None:
    case = make_case(proposed_therapy={"agents": ["nivolumab", "ipilimumab"]})
    warnings = list(run(case, guideline="eau").warnings)
    warning = only(warnings, "regimen-not-recommended")
    assert warning.rule == "therapy.not-for-favorable-ipilimumab-nivolumab"
    assert "checkmate-214-42mo" in warning.sources


@pytest.mark.parametrize("agent", ["ipilimumab", "lenvatinib"])
def test_single_agent_no_guideline_lists_is_flagged(
    run: Callable[..., Assessment], agent: str
) -> None:
    warnings = warnings_for(run, agent, diagnosis={"date": "2026-09-01"})
    assert codes(warnings) & {"nonstandard-regimen", "regimen-not-recommended"}


def test_unrecognised_agent_is_reported_not_ignored(run: Callable[..., Assessment]) -> None:
    warning = only(warnings_for(run, "wonderdrug"), "unrecognised-therapy")
    assert "wonderdrug" in warning.message


# --- rechallenge and contraindications -----------------------------------------------------------


def test_pd1_rechallenge_after_progression_is_flagged(run: Callable[..., Assessment]) -> None:
    warnings = warnings_for(
        run,
        "pembrolizumab",
        "lenvatinib",
        prior_therapies=[
            {"agents": ["nivolumab"], "start": "2025-01-10", "stop_reason": "progression"}
        ],
    )
    warning = only(warnings, "ici-rechallenge")
    assert warning.rule == "therapy.no-pd1-rechallenge"
    assert {"contact-03", "tinivo-2"} <= set(warning.sources)


def test_no_rechallenge_warning_after_progression_on_a_tki(run: Callable[..., Assessment]) -> None:
    warnings = warnings_for(
        run,
        "nivolumab",
        prior_therapies=[
            {"agents": ["sunitinib"], "start": "2025-01-10", "stop_reason": "progression"}
        ],
    )
    assert "ici-rechallenge" not in codes(warnings)
    # Nivolumab after a VEGF-TKI is CheckMate 025: listed, so no regimen warning.
    assert "regimen-not-recommended" not in codes(warnings)


def test_checkpoint_inhibitor_proposed_with_a_contraindication_is_critical(
    run: Callable[..., Assessment],
) -> None:
    warnings = warnings_for(
        run,
        "pembrolizumab",
        "axitinib",
        comorbidities={"organ_transplant": True, "sources": {"organ_transplant": "Condition/tx"}},
    )
    warning = only(warnings, "ici-contraindication")
    assert warning.severity == "critical"
    assert warning.rule == "ici.organ-transplant"
    assert warning.source == "Condition/tx"
    assert "pembrolizumab" in warning.message


def test_contraindication_without_a_proposal_still_warns_about_the_options(
    run: Callable[..., Assessment],
) -> None:
    warning = only(
        warnings_for(run, comorbidities={"active_autoimmune_disease": True}), "ici-contraindication"
    )
    assert warning.severity == "warning"
    assert warning.rule == "ici.autoimmune"


def test_absent_comorbidity_raises_nothing(run: Callable[..., Assessment]) -> None:
    warnings = warnings_for(
        run, "pembrolizumab", "axitinib", comorbidities={"organ_transplant": False}
    )
    assert "ici-contraindication" not in codes(warnings)


def test_tki_caution_applies_to_a_proposed_tki(run: Callable[..., Assessment]) -> None:
    warnings = warnings_for(run, "sunitinib", comorbidities={"qtc_prolongation": True})
    warning = only(warnings, "tki-caution")
    assert warning.rule == "tki.qtc"
    assert "sunitinib" in warning.message


def test_pd1_after_relapse_on_adjuvant_pembrolizumab_is_flagged(
    run: Callable[..., Assessment],
) -> None:
    adjuvant = {
        "agents": ["pembrolizumab"],
        "setting": "adjuvant",
        "start": "2025-10-01",
        "end": "2026-07-01",
    }
    warnings = warnings_for(run, "pembrolizumab", "axitinib", prior_therapies=[adjuvant])
    assert only(warnings, "ici-rechallenge").rule == "therapy.no-pd1-rechallenge"
