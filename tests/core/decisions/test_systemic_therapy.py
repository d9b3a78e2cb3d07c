"""Systemic therapy options by line, histology, IMDC group and patient (§§4-6, 13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rccnav.core.assessment import Assessment, RiskGroupName, SystemicTherapy
from rccnav.core.case import Case
from rccnav.core.decisions import systemic_therapy
from rccnav.core.decisions.lines import current_line
from rccnav.knowledge.model import CHECKPOINT_CLASSES, PD1_AXIS_CLASSES, KnowledgeBase

from ..conftest import ON, kb_variant, make_case, risk_result

IO_TKI = {"axitinib+pembrolizumab", "cabozantinib+nivolumab", "lenvatinib+pembrolizumab"}


def decide(kb: KnowledgeBase, case: Case, *possible: RiskGroupName) -> SystemicTherapy:
    return systemic_therapy.decide(case, risk_result(*possible), current_line(case, kb, ON), kb)


def option(therapy: SystemicTherapy, regimen: str):  # type: ignore[no-untyped-def]
    matches = [o for o in therapy.options if o.regimen == regimen]
    assert matches, f"{regimen} is not offered; options: {[o.regimen for o in therapy.options]}"
    return matches[0]


def excluded(therapy: SystemicTherapy) -> dict[str, str | None]:
    return {e.regimen: e.reason.rule for e in therapy.excluded}


def offered(therapy: SystemicTherapy) -> set[str]:
    return {o.regimen for o in therapy.options}


def with_ici(kb: KnowledgeBase, options: set[str], classes: frozenset[Any]) -> set[str]:
    return {o for o in options if kb.regimen_classes(o) & classes}


# --- first line, clear cell ----------------------------------------------------------


def test_favorable_first_line(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "favorable")
    assert therapy.line == 1
    # NCCN favorable: the three IO-TKI combinations are preferred (reference §4.2).
    assert set(therapy.preferred) == IO_TKI
    # Nivolumab + ipilimumab: NCCN lists it for favourable risk (other, 2B) while EAU/ESMO
    # restrict it to intermediate/poor (CheckMate 214 favourable HR 1.19): shown, never
    # preferred, with the disagreement stated (reference §4.2).
    ipi_nivo = option(therapy, "ipilimumab+nivolumab")
    assert ipi_nivo.category == "certain-circumstances"
    assert ipi_nivo.guideline_disagreement and "NCCN" in ipi_nivo.guideline_disagreement
    assert {p.guideline: p.listing for p in ipi_nivo.guideline_positions} == {
        "nccn": "other-recommended",
        "eau": "not-recommended",
        "esmo": "not-recommended",
    }
    # EAU/ESMO do not recommend avelumab + axitinib first line: never preferred.
    assert option(therapy, "avelumab+axitinib").category == "certain-circumstances"
    assert "active-surveillance" in therapy.certain_circumstances
    assert not therapy.depends_on_unknown_risk


def test_intermediate_first_line(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "intermediate")
    assert set(therapy.preferred) >= IO_TKI | {"ipilimumab+nivolumab"}
    # CABOSUN: cabozantinib preferred by NCCN for intermediate/poor.
    assert "cabozantinib" in therapy.preferred
    # ARCC: temsirolimus is a poor-risk option only.
    assert "temsirolimus" not in offered(therapy)
    assert "ipilimumab+nivolumab" not in excluded(therapy)


def test_poor_first_line(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "poor")
    assert "ipilimumab+nivolumab" in therapy.preferred
    assert option(therapy, "temsirolimus").category == "certain-circumstances"
    # Active surveillance is not an option in poor risk (Rini 2016: <= 1 factor).
    assert "active-surveillance" not in offered(therapy)


def test_every_option_names_its_sources_and_review_status(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "intermediate")
    for o in therapy.options:
        assert o.sources and set(o.sources) <= set(kb.sources)
        assert o.review_status in {"verified", "unverified", "design-choice"}
        assert o.reasons and all(r.rule for r in o.reasons)


def test_categories_are_disjoint_and_match_options(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "favorable", "intermediate", "poor")
    lists = [therapy.preferred, therapy.other, therapy.certain_circumstances]
    flat = [o for listing in lists for o in listing]
    assert len(flat) == len(set(flat)) == len(therapy.options)


# --- merging across possible risk groups ---------------------------------------------


def test_merge_favorable_or_intermediate(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "favorable", "intermediate")
    assert therapy.depends_on_unknown_risk
    # Preferred in both groups: preferred, unconditionally.
    assert set(therapy.preferred) == IO_TKI
    for regimen in IO_TKI:
        assert option(therapy, regimen).only_if_risk == ()
    # Ipi + nivo: preferred if intermediate, not listed if favorable. The least favourable
    # category wins and the condition is stated; it is not excluded while I/P is possible.
    ipi_nivo = option(therapy, "ipilimumab+nivolumab")
    assert ipi_nivo.category == "certain-circumstances"
    assert ipi_nivo.only_if_risk == ("intermediate",)
    assert "ipilimumab+nivolumab" not in excluded(therapy)
    # Cabozantinib: other if favorable, preferred if intermediate.
    cabozantinib = option(therapy, "cabozantinib")
    assert cabozantinib.category == "other"
    assert cabozantinib.only_if_risk == ("intermediate",)
    assert any(r.rule == "prognosis.imdc" for r in cabozantinib.reasons)


def test_merge_intermediate_or_poor(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "intermediate", "poor")
    assert set(therapy.preferred) == IO_TKI | {"ipilimumab+nivolumab", "cabozantinib"}
    temsirolimus = option(therapy, "temsirolimus")
    assert temsirolimus.category == "certain-circumstances"
    assert temsirolimus.only_if_risk == ("poor",)
    surveillance = option(therapy, "active-surveillance")
    assert surveillance.only_if_risk == ("intermediate",)


def test_merge_never_upgrades_an_option(kb: KnowledgeBase) -> None:
    # For every option, the merged category is no better than in any single possible group.
    rank = {"preferred": 0, "other": 1, "certain-circumstances": 2}
    merged = decide(kb, make_case(), "favorable", "intermediate", "poor")
    singles = {g: decide(kb, make_case(), g) for g in ("favorable", "intermediate", "poor")}
    for o in merged.options:
        for single in singles.values():
            listed = {x.regimen: x.category for x in single.options}
            if o.regimen in listed:
                assert rank[o.category] >= rank[listed[o.regimen]]


# --- modifiers: sarcomatoid, prior therapy, contraindications ---------------------------------


def test_sarcomatoid_features_favour_checkpoint_inhibitors(kb: KnowledgeBase) -> None:
    plain = decide(kb, make_case(), "intermediate")
    sarcomatoid = decide(kb, make_case(diagnosis={"sarcomatoid": True}), "intermediate")
    assert any(r.rule == "therapy.sarcomatoid-favours-ici" for r in sarcomatoid.reasons)
    # The preferred ICI regimens stay preferred...
    assert set(plain.preferred) & with_ici(kb, offered(plain), CHECKPOINT_CLASSES) <= set(
        sarcomatoid.preferred
    )
    # ...and a VEGF-TKI alone is no longer preferred (CheckMate 214 sarcomatoid subgroup).
    assert option(plain, "cabozantinib").category == "preferred"
    assert option(sarcomatoid, "cabozantinib").category == "other"
    assert not [o for o in sarcomatoid.preferred if not kb.regimen_classes(o) & CHECKPOINT_CLASSES]
    # Sarcomatoid features do not overturn EAU/ESMO's "not recommended first line" for
    # avelumab + axitinib (no OS benefit, JAVELIN Renal 101 final analysis).
    assert option(sarcomatoid, "avelumab+axitinib").category == "certain-circumstances"


def test_sarcomatoid_promotes_ici_combinations_not_pd1_monotherapy(kb: KnowledgeBase) -> None:
    # Tannir 2021 (CheckMate 214 sarcomatoid subgroup) and the KEYNOTE-426 / CLEAR /
    # CheckMate 9ER subgroups: the benefit is from combinations, so PD-1 monotherapy
    # (pembrolizumab, KEYNOTE-427 cohort B) must not become preferred.
    case = make_case(diagnosis={"histology": "papillary", "sarcomatoid": True})
    plain = decide(kb, make_case(diagnosis={"histology": "papillary"}), "intermediate")
    therapy = decide(kb, case, "intermediate")
    other_ici = {o.regimen for o in plain.options if o.category == "other"} & with_ici(
        kb, offered(plain), CHECKPOINT_CLASSES
    )
    combinations = {o for o in other_ici if len(kb.regimens[o].agents) > 1}
    monotherapy = other_ici - combinations
    assert combinations  # lenvatinib + pembrolizumab, nivolumab + cabozantinib
    assert monotherapy == {"pembrolizumab"}
    assert combinations <= set(therapy.preferred)
    assert not monotherapy & set(therapy.preferred)
    assert option(therapy, "pembrolizumab").category == "other"
    # A clinical trial stays preferred: it is not a drug regimen.
    assert "clinical-trial" in therapy.preferred
    assert option(therapy, "cabozantinib").category == "other"


def test_sarcomatoid_without_a_possible_ici_keeps_a_preferred_option(kb: KnowledgeBase) -> None:
    for comorbidities in (
        {"prior_severe_immune_related_adverse_event": True},  # absolute: ICI excluded
        {"active_autoimmune_disease": True},  # relative: ICI demoted, not re-promoted
    ):
        case = make_case(diagnosis={"sarcomatoid": True}, comorbidities=comorbidities)
        therapy = decide(kb, case, "intermediate")
        assert not with_ici(kb, set(therapy.preferred), CHECKPOINT_CLASSES), comorbidities
        assert "cabozantinib" in therapy.preferred, comorbidities


def test_sarcomatoid_does_not_promote_a_risk_dependent_option(kb: KnowledgeBase) -> None:
    # Nivolumab + ipilimumab is only for intermediate/poor; with favorable still possible it
    # must stay conditional, sarcomatoid or not.
    case = make_case(diagnosis={"sarcomatoid": True})
    therapy = decide(kb, case, "favorable", "intermediate")
    ipi_nivo = option(therapy, "ipilimumab+nivolumab")
    assert ipi_nivo.category == "certain-circumstances"
    assert ipi_nivo.only_if_risk == ("intermediate",)


def test_unknown_sarcomatoid_status_changes_nothing(kb: KnowledgeBase) -> None:
    plain = decide(kb, make_case(), "intermediate")
    unknown = decide(kb, make_case(diagnosis={"sarcomatoid": None}), "intermediate")
    assert plain.preferred == unknown.preferred and plain.other == unknown.other


def test_no_pd1_option_after_progression_on_a_pd1_inhibitor(kb: KnowledgeBase) -> None:
    # CONTACT-03 and TiNivo-2: no PD-(L)1 rechallenge after progression (§5.2).
    case = make_case(
        prior_therapies=[
            {
                "agents": ["pembrolizumab", "axitinib"],
                "start": "2025-01-10",
                "stop_reason": "progression",
            }
        ]
    )
    therapy = decide(kb, case, "intermediate")
    assert therapy.line == 2
    assert not with_ici(kb, offered(therapy), PD1_AXIS_CLASSES)
    # After IO-TKI: a different TKI or belzutifan (§5.3 engine note).
    assert {"cabozantinib", "belzutifan"} <= set(therapy.preferred)
    # Axitinib (already given) is not offered again.
    assert excluded(therapy)["axitinib"] == "therapy.no-repeat-regimen"


def _nivolumab_listed_after_io_tki(data: dict[str, Any]) -> None:
    # A variant table that lists nivolumab after IO-TKI, to exercise the module's own guard.
    for table in data["therapy_tables"]:
        if table["id"] == "subsequent.clear-cell.after-checkpoint-and-vegf":
            table["other"] = [*table["other"], "nivolumab"]
    # Every option a table lists needs the guidelines' positions (integrity check).
    for setting in data["guideline_positions"]["settings"]:
        if setting["setting"] == "subsequent.clear-cell.after-checkpoint-and-vegf":
            setting["options"]["nivolumab"] = {"nccn": {"listing": "not-recorded"}}


@pytest.fixture(scope="module")
def kb_listing_nivolumab_after_io_tki() -> KnowledgeBase:
    return kb_variant(_nivolumab_listed_after_io_tki)


def test_pd1_rechallenge_after_progression_is_excluded(
    kb_listing_nivolumab_after_io_tki: KnowledgeBase,
) -> None:
    kb = kb_listing_nivolumab_after_io_tki
    case = make_case(
        prior_therapies=[
            {
                "agents": ["pembrolizumab", "axitinib"],
                "start": "2025-01-10",
                "stop_reason": "progression",
            }
        ]
    )
    therapy = decide(kb, case, "intermediate")
    assert "nivolumab" not in offered(therapy)
    assert excluded(therapy)["nivolumab"] == "therapy.no-pd1-rechallenge"


def test_pd1_rechallenge_without_progression_is_only_for_certain_circumstances(
    kb_listing_nivolumab_after_io_tki: KnowledgeBase,
) -> None:
    kb = kb_listing_nivolumab_after_io_tki
    case = make_case(
        prior_therapies=[
            {
                "agents": ["pembrolizumab", "axitinib"],
                "start": "2025-01-10",
                "stop_reason": "toxicity",
            }
        ]
    )
    therapy = decide(kb, case, "intermediate")
    nivolumab = option(therapy, "nivolumab")
    assert nivolumab.category == "certain-circumstances"
    assert any(r.rule == "therapy.no-pd1-rechallenge" for r in nivolumab.reasons)


def test_sarcomatoid_does_not_overturn_the_rechallenge_demotion(
    kb_listing_nivolumab_after_io_tki: KnowledgeBase,
) -> None:
    kb = kb_listing_nivolumab_after_io_tki
    case = make_case(
        diagnosis={"sarcomatoid": True},
        prior_therapies=[
            {
                "agents": ["pembrolizumab", "axitinib"],
                "start": "2025-01-10",
                "stop_reason": "toxicity",
            }
        ],
    )
    assert option(decide(kb, case, "intermediate"), "nivolumab").category == "certain-circumstances"


def test_repeated_regimen_is_excluded(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[{"agents": ["sunitinib"], "start": "2025-01-10", "end": "2026-08-01"}]
    )
    therapy = decide(kb, case, "intermediate")
    assert "sunitinib" not in offered(therapy)
    assert excluded(therapy)["sunitinib"] == "therapy.no-repeat-regimen"
    # After a VEGF-TKI alone: cabozantinib (METEOR), lenvatinib + everolimus (Study 205) and
    # nivolumab for the checkpoint-inhibitor-naive (CheckMate 025) are preferred (§5.3).
    assert {"cabozantinib", "everolimus+lenvatinib", "nivolumab"} <= set(therapy.preferred)


def test_after_io_io_a_vegf_tki_is_preferred(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            {
                "agents": ["nivolumab", "ipilimumab"],
                "start": "2025-01-10",
                "stop_reason": "progression",
            }
        ]
    )
    therapy = decide(kb, case, "intermediate")
    assert therapy.preferred and all(
        kb.regimen_classes(o) & {"vegfr-tki"}
        for o in therapy.preferred  # type: ignore[operator]
    )
    assert not with_ici(kb, offered(therapy), CHECKPOINT_CLASSES)


def test_prior_therapy_without_targeted_agents_keeps_first_line_options(kb: KnowledgeBase) -> None:
    case = make_case(
        prior_therapies=[
            {"agents": ["interferon alfa"], "start": "2024-01-10", "end": "2024-06-01"}
        ]
    )
    therapy = decide(kb, case, "intermediate")
    assert therapy.line == 2
    assert any(r.rule == "therapy.no-targeted-exposure" for r in therapy.reasons)
    assert set(therapy.preferred) >= IO_TKI


def test_absolute_contraindication_excludes_every_checkpoint_regimen(kb: KnowledgeBase) -> None:
    case = make_case(comorbidities={"prior_severe_immune_related_adverse_event": True})
    therapy = decide(kb, case, "intermediate")
    assert not with_ici(kb, offered(therapy), CHECKPOINT_CLASSES)
    reasons = excluded(therapy)
    for regimen in IO_TKI | {"ipilimumab+nivolumab", "avelumab+axitinib"}:
        assert reasons[regimen] == "ici.prior-severe-irae"
    # VEGF-TKI monotherapy remains, cabozantinib still preferred.
    assert "cabozantinib" in therapy.preferred


def test_relative_contraindication_demotes_one_step(kb: KnowledgeBase) -> None:
    plain = decide(kb, make_case(), "intermediate")
    autoimmune = decide(
        kb, make_case(comorbidities={"active_autoimmune_disease": True}), "intermediate"
    )
    step = {"preferred": "other", "other": "certain-circumstances"}
    for regimen in with_ici(kb, offered(plain), CHECKPOINT_CLASSES):
        before, after = option(plain, regimen).category, option(autoimmune, regimen).category
        assert after == step.get(before, "certain-circumstances")
        assert option(autoimmune, regimen).cautions
        assert any(r.rule == "ici.autoimmune" for r in option(autoimmune, regimen).reasons)
    # Non-ICI regimens are untouched.
    assert option(autoimmune, "cabozantinib").category == "preferred"


def test_caution_keeps_category_but_adds_the_caution(kb: KnowledgeBase) -> None:
    therapy = decide(
        kb, make_case(comorbidities={"uncontrolled_hypertension": True}), "intermediate"
    )
    cabozantinib = option(therapy, "cabozantinib")
    assert cabozantinib.category == "preferred"
    assert any("hypertension" in c.lower() for c in cabozantinib.cautions)


def test_unrecorded_comorbidities_are_named(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "intermediate")
    reason = [r for r in therapy.reasons if r.rule == "therapy.contraindications-unknown"]
    assert reason and "active autoimmune disease" in reason[0].text


def test_recorded_comorbidities_leave_no_unknown_reason(kb: KnowledgeBase) -> None:
    from rccnav.core.case import Comorbidities

    none_present: dict[str, object] = {
        name: False
        for name, spec in Comorbidities.model_fields.items()
        if spec.annotation == bool | None
    }
    none_present |= {
        "transplanted_organs": [],
        "other_immunosuppressants": [],
        "immune_related_adverse_events": [],
        "infections": {
            "tuberculosis": "none",
            "hepatitis_b": "none",
            "hepatitis_c": "none",
            "hiv": "none",
        },
    }
    therapy = decide(kb, make_case(comorbidities=none_present), "intermediate")
    assert not [r for r in therapy.reasons if r.rule == "therapy.contraindications-unknown"]


# --- histology ---------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["favorable", "poor"])
def test_papillary(kb: KnowledgeBase, group: RiskGroupName) -> None:
    therapy = decide(kb, make_case(diagnosis={"histology": "papillary"}), group)
    # PAPMET: cabozantinib over sunitinib; a trial is preferred for non-clear-cell (§6.1).
    assert {"clinical-trial", "cabozantinib"} <= set(therapy.preferred)
    assert therapy.tables == ("first-line.papillary",)


def test_chromophobe_is_not_offered_pd1_monotherapy(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(diagnosis={"histology": "chromophobe"}), "intermediate")
    assert "clinical-trial" in therapy.preferred
    # KEYNOTE-427B: ORR 9.5% in chromophobe.
    assert "pembrolizumab" not in offered(therapy)


@pytest.mark.parametrize("histology", ["collecting-duct", "medullary"])
def test_collecting_duct_and_medullary_get_platinum_chemotherapy(
    kb: KnowledgeBase, histology: str
) -> None:
    therapy = decide(kb, make_case(diagnosis={"histology": histology}), "poor")
    assert {"cisplatin+gemcitabine", "carboplatin+gemcitabine"} <= set(therapy.preferred)


def test_clear_cell_never_gets_chemotherapy(kb: KnowledgeBase) -> None:
    for group in ("favorable", "intermediate", "poor"):
        therapy = decide(kb, make_case(), group)  # type: ignore[arg-type]
        assert not {o for o in offered(therapy) if "gemcitabine" in o or "paclitaxel" in o}


@pytest.mark.parametrize("histology", [None, "papillary", "unclassified"])
def test_fh_germline_variant_means_fh_deficient_rcc(
    kb: KnowledgeBase, histology: str | None
) -> None:
    case = make_case(
        diagnosis={"histology": histology}, germline={"pathogenic_variants": ["FH"], "tested": True}
    )
    assert systemic_therapy.effective_histology(case) is not None
    therapy = decide(kb, case, "intermediate")
    # HLRCC: bevacizumab + erlotinib (ORR 72%) (reference §6.2).
    assert "bevacizumab+erlotinib" in therapy.preferred
    assert therapy.tables == ("first-line.fh-deficient",)


def test_fh_germline_with_clear_cell_histology_keeps_clear_cell(kb: KnowledgeBase) -> None:
    case = make_case(germline={"pathogenic_variants": ["FH"]})
    assert systemic_therapy.effective_histology(case) == "clear-cell"


def test_unknown_histology_shows_clear_cell_options_with_a_reason(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(diagnosis={"histology": None}), "intermediate")
    assert any(r.rule == "therapy.histology-unknown" for r in therapy.reasons)
    assert set(therapy.preferred) >= IO_TKI
    assert all(t.startswith("first-line.clear-cell") for t in therapy.tables)


def test_non_clear_cell_subsequent_line(kb: KnowledgeBase) -> None:
    case = make_case(
        diagnosis={"histology": "papillary"},
        prior_therapies=[{"agents": ["cabozantinib"], "start": "2025-01-10", "end": "2026-08-01"}],
    )
    therapy = decide(kb, case, "intermediate")
    # Checkpoint-inhibitor-naive after a VEGF-TKI (KEYNOTE-427B, nivolumab + cabozantinib).
    assert therapy.tables == ("subsequent.non-clear-cell.after-vegf-only",)
    assert "clinical-trial" in therapy.preferred
    assert "cabozantinib" not in offered(therapy)
    assert {"pembrolizumab", "cabozantinib+nivolumab"} <= set(offered(therapy))
    assert "belzutifan" not in offered(therapy)


@pytest.mark.parametrize(
    ("histology", "prior", "allowed"),
    [
        # LITESPARK-005 / label: clear-cell after a PD-(L)1 inhibitor and a VEGF-TKI.
        ("clear-cell", [["pembrolizumab", "axitinib"]], True),
        ("clear-cell", [["ipilimumab", "nivolumab"], ["cabozantinib"]], True),
        ("papillary", [["pembrolizumab", "lenvatinib"]], False),
        ("chromophobe", [["pembrolizumab", "lenvatinib"], ["cabozantinib"]], False),
        ("unclassified", [["cabozantinib"]], False),
    ],
)
def test_belzutifan_only_where_studied(
    kb: KnowledgeBase, histology: str, prior: list[list[str]], allowed: bool
) -> None:
    therapies = [
        {
            "agents": agents,
            "start": f"202{3 + i}-01-10",
            "end": f"202{3 + i}-12-01",
            "stop_reason": "progression",
        }
        for i, agents in enumerate(prior)
    ]
    case = make_case(diagnosis={"histology": histology}, prior_therapies=therapies)
    therapy = decide(kb, case, "intermediate")
    assert ("belzutifan" in offered(therapy)) is allowed
    if not allowed:
        assert "belzutifan" in {e.regimen for e in therapy.excluded} or not any(
            "belzutifan" in t for t in therapy.tables
        )


# --- through assess --------------------------------------------------------------------------


def test_assess_uses_the_imdc_possible_groups(run: Callable[..., Assessment]) -> None:
    # ECOG 1 with everything else normal: favorable or intermediate.
    result = run(make_case(performance={"kps": None, "ecog": 1}))
    assert result.imdc.possible_groups == ("favorable", "intermediate")
    assert result.systemic_therapy.depends_on_unknown_risk
    ipi_nivo = [o for o in result.systemic_therapy.options if o.regimen == "ipilimumab+nivolumab"]
    assert ipi_nivo and ipi_nivo[0].only_if_risk == ("intermediate",)


def test_relapse_on_adjuvant_pembrolizumab_rules_out_pd1_first_line(kb: KnowledgeBase) -> None:
    # Metastases (2026-09-01) during adjuvant pembrolizumab: CONTACT-03/TiNivo-2 logic applies.
    case = make_case(
        prior_therapies=[
            {
                "agents": ["pembrolizumab"],
                "setting": "adjuvant",
                "start": "2026-01-15",
                "end": "2026-09-05",
                "stop_reason": "progression",
            }
        ]
    )
    therapy = decide(kb, case, "intermediate")
    assert therapy.line == 1
    assert not with_ici(kb, offered(therapy), PD1_AXIS_CLASSES)
    reasons = excluded(therapy)
    for regimen in IO_TKI | {"ipilimumab+nivolumab", "avelumab+axitinib"}:
        assert reasons[regimen] == "therapy.no-pd1-rechallenge"
    assert "cabozantinib" in therapy.preferred


# --- high-dose IL-2 fitness (reference §11.2) -------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"performance": {"kps": 70, "ecog": None}},
        {"performance": {"kps": None, "ecog": 2}},
        {"comorbidities": {"active_autoimmune_disease": True}},
        {"comorbidities": {"organ_transplant": True}},
        {"disease": {"metastases": [{"site": "brain", "lesions": 1, "treated": False}]}},
    ],
)
def test_high_dose_il2_is_excluded_for_a_patient_unfit_for_it(
    kb: KnowledgeBase, changes: dict[str, Any]
) -> None:
    therapy = decide(kb, make_case(**changes), "intermediate")
    assert "aldesleukin" not in offered(therapy)
    assert excluded(therapy)["aldesleukin"] == "therapy.aldesleukin-fitness"


def test_high_dose_il2_stays_with_its_conditions_for_a_fit_patient(kb: KnowledgeBase) -> None:
    therapy = decide(kb, make_case(), "intermediate")
    assert "aldesleukin" in therapy.certain_circumstances
    il2 = option(therapy, "aldesleukin")
    assert any("every fitness criterion" in caution for caution in il2.cautions)


def test_untreated_brain_metastases_put_local_therapy_first(kb: KnowledgeBase) -> None:
    brain = {"metastases": [{"site": "brain", "lesions": 2, "treated": False}]}
    therapy = decide(kb, make_case(disease=brain), "intermediate")
    assert "local.brain-metastases" in {r.rule for r in therapy.reasons}
    treated = {"metastases": [{"site": "brain", "lesions": 2, "treated": True}]}
    therapy = decide(kb, make_case(disease=treated), "intermediate")
    assert "local.brain-metastases" not in {r.rule for r in therapy.reasons}
