"""Baseline labs: look-back window, assessment date, plausibility, units, limits, calcium."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment
from rccnav.core.baseline import Limit, prepare_baseline
from rccnav.core.case import Case
from rccnav.knowledge.model import KnowledgeBase

from .conftest import ON, factor, kb_variant, lab, make_case

LOOKBACK = 28  # prognosis.lab-lookback: 4 weeks before the assessment date


def baseline(case: Case, kb: KnowledgeBase, lookback: int = LOOKBACK):  # type: ignore[no-untyped-def]
    return prepare_baseline(case, kb, ON, lookback)


def data_quality(result: Assessment, about: str) -> list[str]:
    return [w.message for w in result.warnings if w.code == "data-quality" and about in w.message]


# --- look-back window and assessment date -----------------------------------


def test_stale_lab_beyond_lookback_is_unknown_with_data_quality_warning(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    stale = ON - timedelta(days=LOOKBACK + 1)
    case = make_case(labs={"hemoglobin": lab(9.0, "g/dL", 12.0, 15.5, day=stale)})
    result = run(case)
    # Hb 9.0 would be adverse, but a stale value is unknown, never used and never normal.
    assert factor(result.imdc, "hemoglobin").status == "unknown"
    assert factor(result.mskcc, "hemoglobin").status == "unknown"
    assert data_quality(result, "hemoglobin")
    assert "hemoglobin" not in baseline(case, kb).labs


def test_lab_on_the_last_day_of_the_window_is_used(kb: KnowledgeBase) -> None:
    edge = ON - timedelta(days=LOOKBACK)
    case = make_case(labs={"hemoglobin": lab(9.0, "g/dL", 12.0, 15.5, day=edge)})
    assert baseline(case, kb).labs["hemoglobin"].value == pytest.approx(9.0)


def test_lookback_can_be_widened_per_call(run: Callable[..., Assessment]) -> None:
    old = ON - timedelta(days=60)
    case = make_case(labs={"hemoglobin": lab(9.0, "g/dL", 12.0, 15.5, day=old)})
    assert factor(run(case).imdc, "hemoglobin").status == "unknown"
    assert factor(run(case, lookback_days=90).imdc, "hemoglobin").status == "present"


def test_lab_after_the_assessment_date_is_ignored_not_used(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    later = ON + timedelta(days=1)
    case = make_case(labs={"platelets": lab(900, "10*9/L", 150, 400, day=later)})
    prepared = baseline(case, kb)
    assert "platelets" not in prepared.labs
    assert any("labs.platelets" in item and str(later) in item for item in prepared.ignored)
    result = run(case)
    assert factor(result.imdc, "platelets").status == "unknown"
    assert any("labs.platelets" in item for item in result.ignored_data)
    # Future data is not a data-quality problem: it is simply not yet known on ON.
    assert not data_quality(result, "platelets")


def test_undated_lab_is_used_with_an_info_note(kb: KnowledgeBase) -> None:
    case = make_case(labs={"neutrophils": lab(9.0, "10*9/L", 1.5, 7.5, day=None)})
    prepared = baseline(case, kb)
    assert prepared.labs["neutrophils"].value == pytest.approx(9.0)
    notes = [w for w in prepared.warnings if "neutrophils has no date" in w.message]
    assert notes and notes[0].severity == "info"


def test_preliminary_result_is_used_and_flagged(kb: KnowledgeBase) -> None:
    case = make_case(labs={"ldh": lab(200, "U/L", 125, 250, status="preliminary")})
    prepared = baseline(case, kb)
    assert prepared.labs["ldh"].preliminary is True
    assert any("ldh is a preliminary result" in w.message for w in prepared.warnings)


# --- plausibility and units ---------------------------------------------------


@pytest.mark.parametrize(
    ("field", "measurement", "factor_name"),
    [
        ("hemoglobin", lab(45.0, "g/dL", 12.0, 15.5), "hemoglobin"),
        ("platelets", lab(0.2, "10*9/L", 150, 400), "platelets"),
        ("neutrophils", lab(250, "10*9/L", 1.5, 7.5), "neutrophils"),
        # 25 mg/dL total calcium is implausible: the albumin-corrected value must be unknown
        ("calcium_total", lab(25.0, "mg/dL", 8.5, 10.2), "calcium"),
    ],
)
def test_implausible_value_is_data_quality_and_unknown(
    run: Callable[..., Assessment], field: str, measurement: dict[str, object], factor_name: str
) -> None:
    result = run(make_case(labs={field: measurement}))
    assert factor(result.imdc, factor_name).status == "unknown"
    assert any("plausible range" in m for m in data_quality(result, field))


def test_implausible_in_si_units_is_judged_after_conversion(run: Callable[..., Assessment]) -> None:
    # 300 g/L = 30 g/dL: implausible; 130 g/L = 13 g/dL: fine.
    bad = run(make_case(labs={"hemoglobin": lab(300, "g/L", 120, 155)}))
    good = run(make_case(labs={"hemoglobin": lab(130, "g/L", 120, 155)}))
    assert factor(bad.imdc, "hemoglobin").status == "unknown"
    assert factor(good.imdc, "hemoglobin").status == "absent"


@pytest.mark.parametrize("unit", ["g/dl/", "kg"])
def test_unusable_unit_is_data_quality_and_unknown(
    run: Callable[..., Assessment], unit: str
) -> None:
    result = run(make_case(labs={"hemoglobin": lab(9.0, unit, 12.0, 15.5)}))
    assert factor(result.imdc, "hemoglobin").status == "unknown"
    assert data_quality(result, "hemoglobin")


# --- limits --------------------------------------------------------------------


def test_lab_range_is_converted_with_the_value(kb: KnowledgeBase) -> None:
    case = make_case(labs={"hemoglobin": lab(125, "g/L", 120, 155)})
    hb = baseline(case, kb).labs["hemoglobin"]
    assert hb.unit == "g/dL"
    assert hb.value == pytest.approx(12.5)
    assert hb.lower == Limit(pytest.approx(12.0), pytest.approx(12.0), "lab")  # type: ignore[arg-type]
    assert hb.upper is not None and hb.upper.high == pytest.approx(15.5)


def test_lab_range_in_thousands_per_microlitre(kb: KnowledgeBase) -> None:
    case = make_case(labs={"platelets": lab(380_000, "/mm3", 150_000, 350_000)})
    plt = baseline(case, kb).labs["platelets"]
    assert plt.value == pytest.approx(380.0)
    assert plt.upper is not None and plt.upper.low == pytest.approx(350.0)
    assert plt.upper.reference == "lab"


def test_zero_value_still_converts_its_limits(kb: KnowledgeBase) -> None:
    # Neutrophils 0 is plausible (agranulocytosis); its limits cannot be scaled by value/0.
    case = make_case(labs={"neutrophils": lab(0.0, "10*3/uL", 1.5, 7.5)})
    anc = baseline(case, kb).labs["neutrophils"]
    assert anc.upper is not None and anc.upper.low == pytest.approx(7.5)


@pytest.mark.parametrize(
    ("sex", "hb", "expected"),
    [
        # No sex: the default LLN spans women's 12.0 and men's 13.5 g/dL.
        (None, 12.0, "unknown"),
        (None, 12.7, "unknown"),
        (None, 13.4, "unknown"),
        (None, 11.9, "present"),  # below every default LLN
        (None, 13.5, "absent"),  # at or above every default LLN
        ("other", 12.7, "unknown"),
        ("female", 12.7, "absent"),  # women: LLN 12.0
        ("female", 11.9, "present"),
        ("male", 12.7, "present"),  # men: below WHO 13.0 and the usual LLN 13.5
        ("male", 12.9, "present"),
        ("male", 13.0, "unknown"),  # between WHO 13.0 and the typical LLN 13.5: not decided
        ("male", 13.4, "unknown"),
        ("male", 13.5, "absent"),
    ],
)
def test_default_hemoglobin_limit_is_an_interval(
    run: Callable[..., Assessment], sex: str | None, hb: float, expected: str
) -> None:
    case = make_case(sex=sex, labs={"hemoglobin": lab(hb, "g/dL")})
    hemoglobin = factor(run(case).imdc, "hemoglobin")
    assert hemoglobin.status == expected
    assert hemoglobin.reference is not None and hemoglobin.reference.startswith("default")


def test_default_limit_label_says_sex_unknown(kb: KnowledgeBase) -> None:
    hb = baseline(make_case(sex=None, labs={"hemoglobin": lab(12.7, "g/dL")}), kb).labs[
        "hemoglobin"
    ]
    assert hb.lower == Limit(12.0, 13.5, "default (sex unknown: widest range)")


@pytest.mark.parametrize(
    ("count", "expected"), [(7.0, "absent"), (7.5, "unknown"), (8.1, "present")]
)
def test_default_neutrophil_ulln_interval(
    run: Callable[..., Assessment], count: float, expected: str
) -> None:
    # Fallback ANC ULN 7.0-8.0 x 10^9/L: inside the span is unknown.
    result = run(make_case(labs={"neutrophils": lab(count, "10*9/L")}))
    assert factor(result.imdc, "neutrophils").status == expected


def test_missing_lab_lower_limit_falls_back_to_the_default(run: Callable[..., Assessment]) -> None:
    # The lab gave only a ULN; Hb 9.0 is below every default LLN (12.0-13.5).
    result = run(make_case(labs={"hemoglobin": lab(9.0, "g/dL", None, 15.5)}, sex=None))
    hemoglobin = factor(result.imdc, "hemoglobin")
    assert hemoglobin.status == "present"
    assert hemoglobin.reference is not None and hemoglobin.reference.startswith("default")


def test_no_limit_at_all_is_unknown() -> None:
    # Without a lab range and without a KB fallback, nothing can call Hb 9.0 low or normal.
    bare = kb_variant(lambda data: data.update(default_limits=[]))
    case = make_case(labs={"hemoglobin": lab(9.0, "g/dL")})
    result = assess(case, bare, ON)
    hemoglobin = factor(result.imdc, "hemoglobin")
    assert hemoglobin.status == "unknown"
    assert "no lower limit" in hemoglobin.evidence


# --- corrected calcium -----------------------------------------------------------


def test_payne_correction_in_conventional_units(kb: KnowledgeBase) -> None:
    # Ca_corr = Ca + 0.8 x (4.0 - albumin): 9.0 + 0.8 x (4.0 - 2.5) = 10.2 mg/dL
    case = make_case(
        labs={"calcium_total": lab(9.0, "mg/dL", 8.5, 10.2), "albumin": lab(2.5, "g/dL")}
    )
    corrected = baseline(case, kb).labs["calcium_corrected"]
    assert corrected.value == pytest.approx(10.2)
    assert corrected.method is not None and corrected.method.startswith("Payne")
    # The lab's total-calcium ULN is the limit for the corrected value.
    assert corrected.upper == Limit(10.2, 10.2, "lab")


def test_payne_correction_in_si_units(kb: KnowledgeBase) -> None:
    # SI Payne: 2.25 + 0.02 x (40 - 25) = 2.55 mmol/L, about 10.2 mg/dL.
    case = make_case(
        labs={"calcium_total": lab(2.25, "mmol/L", 2.12, 2.55), "albumin": lab(25, "g/L")}
    )
    corrected = baseline(case, kb).labs["calcium_corrected"]
    assert corrected.unit == "mg/dL"
    assert corrected.value == pytest.approx(2.55 * 4.008, abs=0.02)


def test_high_albumin_lowers_corrected_calcium(kb: KnowledgeBase) -> None:
    case = make_case(
        labs={"calcium_total": lab(10.4, "mg/dL", 8.5, 10.2), "albumin": lab(4.5, "g/dL")}
    )
    assert baseline(case, kb).labs["calcium_corrected"].value == pytest.approx(10.0)


def test_reported_corrected_calcium_is_used_as_is(
    kb: KnowledgeBase, run: Callable[..., Assessment]
) -> None:
    # Total 9.0 with albumin 2.5 would give Payne 10.2; the lab's corrected 10.6 wins.
    case = make_case(
        labs={
            "calcium_total": lab(9.0, "mg/dL", 8.5, 10.2),
            "albumin": lab(2.5, "g/dL"),
            "calcium_corrected": lab(10.6, "mg/dL", 8.5, 10.2),
        }
    )
    corrected = baseline(case, kb).labs["calcium_corrected"]
    assert corrected.value == pytest.approx(10.6)
    assert corrected.method == "reported as corrected"
    result = run(case)
    assert factor(result.imdc, "calcium").status == "present"
    assert factor(result.mskcc, "calcium").status == "present"


def test_reported_corrected_calcium_without_range_borrows_the_total_calcium_lab_range(
    kb: KnowledgeBase,
) -> None:
    case = make_case(
        labs={
            "calcium_total": lab(9.0, "mg/dL", 8.6, 10.0),
            "calcium_corrected": lab(10.1, "mg/dL"),
        }
    )
    corrected = baseline(case, kb).labs["calcium_corrected"]
    assert corrected.upper == Limit(10.0, 10.0, "lab")


def test_total_calcium_without_albumin_is_unknown_not_normal(
    run: Callable[..., Assessment],
) -> None:
    result = run(make_case(labs={"albumin": None, "calcium_total": lab(9.0, "mg/dL", 8.5, 10.2)}))
    calcium = factor(result.imdc, "calcium")
    assert calcium.status == "unknown"
    assert "albumin" in calcium.evidence


# --- performance status: a baseline value under the same window --------------------


def test_stale_performance_status_is_unknown_with_data_quality_warning(
    run: Callable[..., Assessment],
) -> None:
    stale = ON - timedelta(days=LOOKBACK + 1)
    result = run(make_case(performance={"kps": 60, "ecog": None, "date": stale}))
    # KPS 60 would be adverse; recorded too long ago it is unknown, never used.
    assert factor(result.imdc, "performance_status").status == "unknown"
    assert data_quality(result, "performance status")
    # Decisions see the same: good performance is no longer established for CN.
    assert "performance status" in result.cytoreductive_nephrectomy.unknowns


def test_performance_status_after_the_assessment_date_is_ignored(
    run: Callable[..., Assessment],
) -> None:
    later = ON + timedelta(days=3)
    result = run(make_case(performance={"kps": 60, "ecog": None, "date": later}))
    assert factor(result.imdc, "performance_status").status == "unknown"
    assert any("performance" in item for item in result.ignored_data)


def test_performance_status_inside_the_window_is_used(run: Callable[..., Assessment]) -> None:
    result = run(make_case(performance={"kps": 60, "ecog": None, "date": ON - timedelta(days=3)}))
    assert factor(result.imdc, "performance_status").status == "present"


# --- kidney function estimated from creatinine --------------------------------


def _age_on_lab_day(case: Case) -> float:
    assert case.birth_date is not None and case.labs.creatinine is not None
    assert case.labs.creatinine.date is not None
    return (case.labs.creatinine.date - case.birth_date).days / 365.25


def test_egfr_is_computed_with_ckd_epi_2021_when_only_creatinine_is_reported(
    kb: KnowledgeBase,
) -> None:
    from rccnav.core.renal_function import CKD_EPI_2021, ckd_epi_2021

    case = make_case(labs={"creatinine": lab(1.4, "mg/dL")})
    result = baseline(case, kb)
    egfr = result.labs["egfr"]
    assert egfr.method == CKD_EPI_2021
    assert egfr.value == ckd_epi_2021(1.4, _age_on_lab_day(case), "female").value
    assert any("calculated from creatinine" in w.message for w in result.warnings)
    assert "creatinine_clearance" not in result.labs  # no weight: no Cockcroft-Gault


def test_creatinine_in_umol_per_l_is_converted_before_the_equation(kb: KnowledgeBase) -> None:
    mg = baseline(make_case(labs={"creatinine": lab(1.4, "mg/dL")}), kb).labs["egfr"].value
    umol = baseline(make_case(labs={"creatinine": lab(123.76, "umol/L")}), kb).labs["egfr"].value
    assert umol == pytest.approx(mg, abs=0.2)


def test_reported_egfr_is_never_replaced(kb: KnowledgeBase) -> None:
    case = make_case(labs={"creatinine": lab(1.4, "mg/dL"), "egfr": lab(38, "mL/min/{1.73_m2}")})
    egfr = baseline(case, kb).labs["egfr"]
    assert egfr.value == 38 and egfr.method is None


def test_cockcroft_gault_needs_weight(kb: KnowledgeBase) -> None:
    from rccnav.core.renal_function import COCKCROFT_GAULT, cockcroft_gault

    case = make_case(
        labs={"creatinine": lab(1.4, "mg/dL")},
        vitals={"weight": {"value": 60, "unit": "kg"}},
    )
    crcl = baseline(case, kb).labs["creatinine_clearance"]
    assert crcl.method == COCKCROFT_GAULT
    assert crcl.value == cockcroft_gault(1.4, _age_on_lab_day(case), "female", 60).value


def test_no_estimate_without_sex(kb: KnowledgeBase) -> None:
    case = make_case(labs={"creatinine": lab(1.4, "mg/dL")}, sex=None)
    assert "egfr" not in baseline(case, kb).labs
