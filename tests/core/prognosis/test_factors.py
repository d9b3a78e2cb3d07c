"""The shared IMDC/MSKCC risk factors (reference §§1.1, 1.4, 2.2, 3.3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from rccnav.core.assessment import Assessment
from rccnav.core.baseline import LabValue, Limit
from rccnav.core.prognosis.factors import (
    above_absolute,
    above_upper_limit,
    below_lower_limit,
    first_anniversary,
)

from ..conftest import ON, factor, lab, make_case

# --- performance status ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kps", "expected"),
    [
        (100, "absent"),
        (90, "absent"),
        (80, "absent"),
        (70, "present"),
        (60, "present"),
        (0, "present"),
    ],
)
def test_kps_below_80_is_adverse(run: Callable[..., Assessment], kps: int, expected: str) -> None:
    # IMDC and MSKCC: KPS < 80; a KPS of exactly 80 does not count (reference §1.1).
    result = run(make_case(performance={"kps": kps}))
    assert factor(result.imdc, "performance_status").status == expected
    assert factor(result.mskcc, "performance_status").status == expected


@pytest.mark.parametrize(
    ("ecog", "expected"),
    [
        (0, "absent"),  # ECOG 0 = KPS 90-100
        (1, "unknown"),  # ECOG 1 = KPS 70-80: spans the cut-off, never silently picked
        (2, "present"),  # ECOG 2 = KPS 50-60
        (3, "present"),
        (4, "present"),
    ],
)
def test_ecog_is_converted_honestly(
    run: Callable[..., Assessment], ecog: int, expected: str
) -> None:
    result = run(make_case(performance={"kps": None, "ecog": ecog}))
    assert factor(result.imdc, "performance_status").status == expected


def test_ecog_1_leaves_a_range_and_names_kps_as_missing(run: Callable[..., Assessment]) -> None:
    result = run(make_case(performance={"kps": None, "ecog": 1}))
    # Only PS is unknown and everything else is absent: 0 or 1 factor.
    assert result.imdc.possible_groups == ("favorable", "intermediate")
    assert result.imdc.risk_group is None
    assert [m.factor for m in result.imdc.missing] == ["performance_status"]
    assert "KPS" in result.imdc.missing[0].needed


def test_recorded_kps_settles_an_ambiguous_ecog(run: Callable[..., Assessment]) -> None:
    result = run(make_case(performance={"kps": 80, "ecog": 1}))
    assert factor(result.imdc, "performance_status").status == "absent"


def test_no_performance_status_is_unknown(run: Callable[..., Assessment]) -> None:
    for performance in (None, {"kps": None, "ecog": None}):
        result = run(make_case(performance=performance))
        assert factor(result.imdc, "performance_status").status == "unknown"


# --- time from diagnosis to treatment ----------------------------------------------


def _ttt(run: Callable[..., Assessment], diagnosed: date, **case: Any) -> str:
    result = run(make_case(diagnosis={"date": diagnosed.isoformat()}, **case))
    status = factor(result.imdc, "time_to_treatment").status
    assert factor(result.mskcc, "time_to_treatment").status == status
    return status


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, "present"), (364, "present"), (365, "absent"), (366, "absent")],
)
def test_time_to_treatment_calendar_year_non_leap(
    run: Callable[..., Assessment], days: int, expected: str
) -> None:
    # ON is 2026-11-02; the year before it has no 29 February.
    assert _ttt(run, ON - timedelta(days=days)) == expected


@pytest.mark.parametrize(
    ("diagnosed", "treated", "expected"),
    [
        # Diagnosed on a leap day: the first anniversary is 28 February (rule statement).
        (date(2024, 2, 29), date(2025, 2, 27), "present"),
        (date(2024, 2, 29), date(2025, 2, 28), "absent"),
        (date(2024, 2, 29), date(2025, 3, 1), "absent"),
        # A year that spans 29 February has 366 days: 365 days is still before the anniversary.
        (date(2023, 3, 1), date(2024, 2, 29), "present"),
        (date(2023, 3, 1), date(2024, 3, 1), "absent"),
        (date(2024, 1, 15), date(2025, 1, 14), "present"),
        (date(2024, 1, 15), date(2025, 1, 15), "absent"),
    ],
)
def test_time_to_treatment_calendar_rule_around_leap_days(
    run: Callable[..., Assessment], diagnosed: date, treated: date, expected: str
) -> None:
    assert _ttt_at(run, diagnosed, treated) == expected
    # The planned start of the proposed therapy is the same treatment date.
    planned = {"agents": ["sunitinib"], "planned_start": treated.isoformat()}
    assert _ttt(run, diagnosed, proposed_therapy=planned) == expected


def _ttt_at(run: Callable[..., Assessment], diagnosed: date, treated: date) -> str:
    result = run(make_case(diagnosis={"date": diagnosed.isoformat()}), on=treated)
    return factor(result.imdc, "time_to_treatment").status


def test_first_anniversary_of_a_leap_day_is_28_february() -> None:
    assert first_anniversary(date(2024, 2, 29)) == date(2025, 2, 28)
    assert first_anniversary(date(2023, 2, 28)) == date(2024, 2, 28)
    assert first_anniversary(date(2025, 12, 31)) == date(2026, 12, 31)


def test_time_is_measured_to_the_planned_start_of_the_proposed_therapy(
    run: Callable[..., Assessment],
) -> None:
    diagnosed = ON - timedelta(days=300)
    planned = diagnosed + timedelta(days=400)
    case = make_case(
        diagnosis={"date": diagnosed.isoformat()},
        proposed_therapy={"agents": ["sunitinib"], "planned_start": planned.isoformat()},
    )
    # On ON only 300 days have passed, but the therapy being stratified starts after 400.
    assert factor(run(case).imdc, "time_to_treatment").status == "absent"


def test_diagnosis_after_treatment_is_unknown(run: Callable[..., Assessment]) -> None:
    result = run(make_case(diagnosis={"date": (ON + timedelta(days=1)).isoformat()}))
    ttt = factor(result.imdc, "time_to_treatment")
    assert ttt.status == "unknown"
    assert "after the treatment date" in ttt.evidence


def test_unknown_diagnosis_date_is_unknown(run: Callable[..., Assessment]) -> None:
    result = run(make_case(diagnosis={"date": None}))
    assert factor(result.imdc, "time_to_treatment").status == "unknown"


def test_metastasis_date_does_not_replace_initial_diagnosis(run: Callable[..., Assessment]) -> None:
    # Diagnosis 4 years ago, metastases found last month: the factor is absent (§1.4).
    case = make_case(
        diagnosis={
            "date": (ON - timedelta(days=1500)).isoformat(),
            "metastasis_date": (ON - timedelta(days=30)).isoformat(),
        }
    )
    assert factor(run(case).imdc, "time_to_treatment").status == "absent"


# --- lab limits: exactly at the limit ----------------------------------------------


@pytest.mark.parametrize(
    ("hb", "expected"), [(12.0, "absent"), (11.9, "present"), (12.1, "absent")]
)
def test_hemoglobin_at_the_lln_is_not_adverse(
    run: Callable[..., Assessment], hb: float, expected: str
) -> None:
    # Adverse when < LLN: equal to the lab's LLN is not below it.
    result = run(make_case(labs={"hemoglobin": lab(hb, "g/dL", 12.0, 15.5)}))
    assert factor(result.imdc, "hemoglobin").status == expected
    assert factor(result.mskcc, "hemoglobin").status == expected


@pytest.mark.parametrize(
    ("count", "expected"), [(400, "absent"), (401, "present"), (399, "absent")]
)
def test_platelets_at_the_uln_are_not_adverse(
    run: Callable[..., Assessment], count: float, expected: str
) -> None:
    result = run(make_case(labs={"platelets": lab(count, "10*9/L", 150, 400)}))
    assert factor(result.imdc, "platelets").status == expected


@pytest.mark.parametrize(("count", "expected"), [(7.5, "absent"), (7.51, "present")])
def test_neutrophils_at_the_uln_are_not_adverse(
    run: Callable[..., Assessment], count: float, expected: str
) -> None:
    result = run(make_case(labs={"neutrophils": lab(count, "10*9/L", 1.5, 7.5)}))
    assert factor(result.imdc, "neutrophils").status == expected


@pytest.mark.parametrize(
    ("calcium", "imdc", "mskcc"),
    [
        (9.9, "absent", "absent"),
        (10.0, "absent", "absent"),  # MSKCC: > 10 mg/dL, so exactly 10.0 is not adverse
        (10.01, "absent", "present"),  # above 10 but below this lab's ULN of 10.2
        (10.2, "absent", "present"),  # exactly the lab's ULN: not adverse for IMDC
        (10.3, "present", "present"),
    ],
)
def test_calcium_cut_offs_differ_between_models(
    run: Callable[..., Assessment], calcium: float, imdc: str, mskcc: str
) -> None:
    # Albumin 4.0 g/dL: Payne leaves the total unchanged.
    case = make_case(
        labs={"calcium_total": lab(calcium, "mg/dL", 8.5, 10.2), "albumin": lab(4.0, "g/dL")}
    )
    result = run(case)
    assert factor(result.imdc, "calcium").status == imdc
    assert factor(result.mskcc, "calcium").status == mskcc


def test_hypoalbuminaemia_unmasks_hypercalcaemia(run: Callable[..., Assessment]) -> None:
    # Total 9.8 mg/dL with albumin 2.5: corrected 9.8 + 0.8 x 1.5 = 11.0 mg/dL.
    case = make_case(
        labs={"calcium_total": lab(9.8, "mg/dL", 8.5, 10.2), "albumin": lab(2.5, "g/dL")}
    )
    result = run(case)
    assert factor(result.imdc, "calcium").status == "present"
    assert factor(result.mskcc, "calcium").status == "present"


@pytest.mark.parametrize(
    ("ldh", "expected"),
    [(375, "absent"), (375.5, "present"), (251, "absent")],  # 1.5 x ULN 250 = 375
)
def test_ldh_exactly_one_and_a_half_times_uln_is_not_adverse(
    run: Callable[..., Assessment], ldh: float, expected: str
) -> None:
    result = run(make_case(labs={"ldh": lab(ldh, "U/L", 125, 250)}))
    assert factor(result.mskcc, "ldh").status == expected


def test_ldh_in_microkatal_uses_the_same_multiple(run: Callable[..., Assessment]) -> None:
    # ULN 4.0 ukat/L (240 U/L): 6.0 ukat/L is exactly 1.5 x ULN, 6.1 is above.
    at = run(make_case(labs={"ldh": lab(6.0, "ukat/L", 2.0, 4.0)}))
    above = run(make_case(labs={"ldh": lab(6.1, "ukat/L", 2.0, 4.0)}))
    assert factor(at.mskcc, "ldh").status == "absent"
    assert factor(above.mskcc, "ldh").status == "present"


@pytest.mark.parametrize(
    ("ldh", "expected"),
    # Default ULN interval 250-480 U/L: 1.5 x gives 375-720.
    [(375, "absent"), (500, "unknown"), (720, "unknown"), (721, "present")],
)
def test_ldh_with_default_limits(run: Callable[..., Assessment], ldh: float, expected: str) -> None:
    result = run(make_case(labs={"ldh": lab(ldh, "U/L")}))
    assert factor(result.mskcc, "ldh").status == expected


def test_imdc_has_no_ldh_and_mskcc_has_no_counts(run: Callable[..., Assessment]) -> None:
    result = run(make_case())
    assert {f.name for f in result.imdc.factors} == {
        "performance_status",
        "time_to_treatment",
        "hemoglobin",
        "calcium",
        "neutrophils",
        "platelets",
    }
    assert {f.name for f in result.mskcc.factors} == {
        "performance_status",
        "time_to_treatment",
        "hemoglobin",
        "calcium",
        "ldh",
    }


# --- ionized calcium ------------------------------------------------------------------


def test_ionized_calcium_is_used_for_imdc_only(run: Callable[..., Assessment]) -> None:
    case = make_case(
        labs={
            "calcium_total": None,
            "albumin": None,
            "calcium_ionized": lab(1.45, "mmol/L", 1.12, 1.32),
        }
    )
    result = run(case)
    assert factor(result.imdc, "calcium").status == "present"
    # MSKCC's 10 mg/dL cut-off is for corrected total calcium.
    mskcc_calcium = factor(result.mskcc, "calcium")
    assert mskcc_calcium.status == "unknown"
    assert "ionized" in mskcc_calcium.evidence


def test_corrected_calcium_is_preferred_over_ionized(run: Callable[..., Assessment]) -> None:
    case = make_case(labs={"calcium_ionized": lab(1.45, "mmol/L", 1.12, 1.32)})
    # Baseline total 9.4 with albumin 4.0 gives corrected 9.4: not above the ULN.
    assert factor(run(case).imdc, "calcium").status == "absent"


# --- the factor functions on hand-made values --------------------------------------------


def _lab(value: float, lower: Limit | None = None, upper: Limit | None = None) -> LabValue:
    return LabValue("x", value, "u", None, "labs.x", lower, upper, False)


def test_limit_interval_decides_only_outside_the_span() -> None:
    span = Limit(10.0, 12.0, "default")
    assert below_lower_limit("x", _lab(9.99, lower=span), "").status == "present"
    assert below_lower_limit("x", _lab(10.0, lower=span), "").status == "unknown"
    assert below_lower_limit("x", _lab(11.99, lower=span), "").status == "unknown"
    assert below_lower_limit("x", _lab(12.0, lower=span), "").status == "absent"
    assert above_upper_limit("x", _lab(10.0, upper=span), "").status == "absent"
    assert above_upper_limit("x", _lab(10.01, upper=span), "").status == "unknown"
    assert above_upper_limit("x", _lab(12.0, upper=span), "").status == "unknown"
    assert above_upper_limit("x", _lab(12.01, upper=span), "").status == "present"


def test_missing_lab_is_unknown_with_the_reason() -> None:
    result = above_upper_limit("platelets", None, "no usable platelet count")
    assert result.status == "unknown"
    assert result.evidence == "no usable platelet count"
    assert above_absolute("calcium", None, "nothing", 10.0).status == "unknown"


def test_factor_evidence_names_value_unit_and_reference() -> None:
    result = below_lower_limit("hemoglobin", _lab(11.0, lower=Limit(12.0, 12.0, "lab")), "")
    assert result.status == "present"
    assert result.value == 11.0
    assert result.reference == "lab"
    assert result.threshold is not None and "12" in result.threshold


@pytest.mark.parametrize(
    ("count", "expected"),
    # Fallback platelet ULN 400-450 x 10^9/L, whatever unit the count comes in.
    [(400, "absent"), (450, "unknown"), (451, "present")],
)
@pytest.mark.parametrize(("unit", "per_10_9"), [("10*9/L", 1), ("10*3/uL", 1), ("/mm3", 1000)])
def test_platelets_on_the_default_limits_in_any_unit(
    run: Callable[..., Assessment], count: int, expected: str, unit: str, per_10_9: int
) -> None:
    result = run(make_case(labs={"platelets": lab(count * per_10_9, unit)}))
    assert factor(result.imdc, "platelets").status == expected
