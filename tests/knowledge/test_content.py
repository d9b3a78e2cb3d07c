"""Knowledge-base values against clinical-reference.md: the numbers a clinician signs off."""

from __future__ import annotations

import pytest

from rccnav.knowledge.model import AgentClass, KnowledgeBase


@pytest.mark.parametrize(
    ("rule", "parameter", "value"),
    [
        ("prognosis.mskcc", "calcium_mg_dl", 10.0),  # §2.2: corrected calcium > 10 mg/dL
        ("prognosis.mskcc", "ldh_uln_multiple", 1.5),  # §2.2: LDH > 1.5 x ULN
        ("calcium.payne", "reference_albumin_g_dl", 4.0),  # §3.1 Payne
        ("calcium.payne", "mg_dl_per_g_dl", 0.8),
        ("prognosis.lab-lookback", "days", 28),  # §1.4 engine note: <= 4 weeks
        ("adjuvant.within-one-year", "days", 365),  # §8.2: resected <= 1 year from nephrectomy
        ("genetics.evaluation-triggers", "age_below", 46),  # §6.3: age < 46
        ("surveillance.candidate", "max_imdc_factors", 1),  # §10: 0-1 IMDC factors
        ("surveillance.candidate", "max_organ_sites", 2),  # §10: <= 2 sites
        ("local.oligometastatic-sbrt", "max_lesions", 5),  # §9.1: 1-5 lesions
        ("local.zoledronic-renal", "min_crcl_ml_min", 30),  # §9.2: avoid if CrCl < 30
        ("metastasectomy.disease-free-interval", "months", 12),  # §8.1: DFI > 12 months
        ("trial.later-lines", "from_line", 3),
    ],
)
def test_thresholds_match_the_reference(
    kb: KnowledgeBase, rule: str, parameter: str, value: float
) -> None:
    assert kb.param(rule, parameter) == value


@pytest.mark.parametrize(
    ("ecog", "low", "high"),
    [(0, 90, 100), (1, 70, 80), (2, 50, 60), (3, 30, 40), (4, 10, 20), (5, 0, 0)],
)
def test_ecog_to_kps_matches_oken_and_karnofsky(
    kb: KnowledgeBase, ecog: int, low: int, high: int
) -> None:
    # Reference §3.3, usual KPS equivalent column.
    assert kb.param("prognosis.ecog-to-kps", f"ecog{ecog}_kps_low") == low
    assert kb.param("prognosis.ecog-to-kps", f"ecog{ecog}_kps_high") == high


@pytest.mark.parametrize(
    ("model", "setting", "months"),
    [
        ("imdc", "first-line", {"favorable": 43.2, "intermediate": 22.5, "poor": 7.8}),  # Heng 2013
        ("imdc", "second-line", {"favorable": 35.3, "intermediate": 16.6, "poor": 5.4}),  # Ko 2015
        ("mskcc", "first-line", {"favorable": 30, "intermediate": 14, "poor": 5}),  # Motzer 2002
    ],
)
def test_survival_rows_match_the_reference(
    kb: KnowledgeBase, model: str, setting: str, months: dict[str, float]
) -> None:
    rows = {
        r.risk_group: r.median_os_months
        for r in kb.survival
        if r.model == model and r.setting == setting
    }
    assert rows == months


def test_second_line_survival_is_marked_unverified(kb: KnowledgeBase) -> None:
    # The Ko 2015 figures come from a secondary summary (reference §1.3).
    assert {r.status.value for r in kb.survival if r.setting == "second-line"} == {"unverified"}


@pytest.mark.parametrize(
    ("analyte", "limit", "sex", "low", "high"),
    [
        ("hemoglobin", "lower", "female", 12.0, 12.0),  # §3.2: women about 12.0-15.5 g/dL
        # men: WHO anaemia cut-off 13.0 g/dL, typical laboratory LLN 13.5 (issue 8: a fallback
        # must not decide a value between them)
        ("hemoglobin", "lower", "male", 13.0, 13.5),
        ("calcium_total", "upper", "any", 10.2, 10.2),  # 8.5-10.2 mg/dL
        ("neutrophils", "upper", "any", 7.0, 8.0),  # ULN varies, about 7.0-8.0
        ("platelets", "upper", "any", 400.0, 450.0),  # some labs ULN 450
        ("ldh", "upper", "any", 250.0, 480.0),  # IFCC about 250; older methods 450-480
    ],
)
def test_default_limits_span_the_reference_ranges(
    kb: KnowledgeBase, analyte: str, limit: str, sex: str, low: float, high: float
) -> None:
    rows = [
        d for d in kb.default_limits if d.analyte == analyte and d.limit == limit and d.sex == sex
    ]
    assert len(rows) == 1
    assert (rows[0].low, rows[0].high) == (low, high)
    # Fallbacks are not from the RCC papers: they must not be marked verified.
    assert rows[0].status.value != "verified"


def test_analyte_loinc_codes(kb: KnowledgeBase) -> None:
    # Reference §3.4, verified codes.
    assert {"718-7", "59260-0"} <= set(kb.analytes["hemoglobin"].loinc)
    assert "29265-6" in kb.analytes["calcium_corrected"].loinc
    assert "1751-7" in kb.analytes["albumin"].loinc
    assert "751-8" in kb.analytes["neutrophils"].loinc
    assert "777-3" in kb.analytes["platelets"].loinc
    assert "2532-0" in kb.analytes["ldh"].loinc


def test_nonstandard_ipilimumab_cabozantinib_points_to_the_real_regimens(kb: KnowledgeBase) -> None:
    combos = {frozenset(c.agents): c for c in kb.nonstandard_combinations}
    combo = combos[frozenset({"ipilimumab", "cabozantinib"})]
    # Reference §4.5: suggest nivolumab + ipilimumab or nivolumab + cabozantinib.
    assert set(combo.likely_meant) == {"ipilimumab+nivolumab", "cabozantinib+nivolumab"}


def test_chemotherapy_exception_is_collecting_duct_and_medullary(kb: KnowledgeBase) -> None:
    chemo = [c for c in kb.therapy_categories if AgentClass.CHEMOTHERAPY in c.agent_classes]
    assert len(chemo) == 1 and chemo[0].kind == "ineffective"
    assert set(chemo[0].except_histologies) == {"collecting-duct", "medullary"}


def test_ipilimumab_nivolumab_is_not_listed_for_favorable_clear_cell(kb: KnowledgeBase) -> None:
    for table in kb.therapy_tables:
        if (
            table.line == "first"
            and "clear-cell" in table.histologies
            and "favorable" in table.risk_groups
        ):
            listed = {*table.preferred, *table.other, *table.certain_circumstances}
            assert "ipilimumab+nivolumab" not in listed, table.id


def test_every_checkpoint_inhibitor_has_the_ici_contraindications(kb: KnowledgeBase) -> None:
    # The one class-specific rule: after grade 3 colitis only the CTLA-4 inhibitor is
    # stopped for good; a PD-1/PD-L1 inhibitor may resume (OPDIVO label; ASCO 2021).
    class_specific = {"ici.ctla4-after-severe-colitis": {AgentClass.CTLA4}}
    ici_rules = [c for c in kb.contraindications if c.warning_code == "ici-contraindication"]
    assert ici_rules
    for rule in ici_rules:
        wanted = class_specific.get(rule.id, {AgentClass.PD1, AgentClass.PDL1, AgentClass.CTLA4})
        assert wanted <= set(rule.agent_classes), rule.id
    assert set(class_specific) <= {c.id for c in ici_rules}


def test_only_rechallenge_bar_and_vital_organ_grafts_are_absolute(kb: KnowledgeBase) -> None:
    # Reference §13: flags for review, not exclusions, unless marked absolute. ASCO 2021
    # (no rechallenge after a barring irAE) and heart/liver/lung grafts, whose loss is
    # potentially fatal (d'Izarny-Gargas 2020; Abdel-Wahab 2019), are the exceptions, and
    # ipilimumab after grade 3-4 colitis (permanent discontinuation, OPDIVO label).
    assert sorted(c.id for c in kb.contraindications if c.severity == "absolute") == [
        "ici.ctla4-after-severe-colitis",
        "ici.prior-severe-irae",
        "ici.transplant-heart-liver-lung",
    ]
