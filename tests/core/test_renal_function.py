"""Kidney function estimates, checked against hand-worked examples of the published equations.

CKD-EPI 2021 as published by the National Kidney Foundation (kidney.org,
"CKD-EPI Creatinine Equation (2021)", Inker NEJM 2021;385:1737):
eGFR = 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age x 1.012 [female].
Cockcroft-Gault (Nephron 1976;16:31): (140 - age) x kg / (72 x Scr), x 0.85 female.
"""

from __future__ import annotations

import math

import pytest

from rccnav.core.renal_function import (
    CKD_EPI_2021,
    COCKCROFT_GAULT,
    RenalInputError,
    ckd_epi_2021,
    cockcroft_gault,
)


def test_ckd_epi_2021_man_above_kappa() -> None:
    # 60-year-old man, Scr 1.0 mg/dL: Scr/0.9 = 1.1111 > 1, so only the -1.200 slope applies.
    # 1.1111^-1.2 = 0.88124; 0.9938^60 = 0.68856; 142 x 0.88124 x 0.68856 = 86.16.
    estimate = ckd_epi_2021(1.0, 60, "male")
    assert estimate.value == pytest.approx(86.2, abs=0.1)
    assert estimate.method == CKD_EPI_2021
    assert estimate.unit == "mL/min/{1.73_m2}"


def test_ckd_epi_2021_woman_below_kappa_uses_alpha_and_female_factor() -> None:
    # 40-year-old woman, Scr 0.6 mg/dL: Scr/0.7 = 0.85714 < 1, so alpha -0.241 applies.
    # 0.85714^-0.241 = 1.03786; 0.9938^40 = 0.77965; 142 x 1.03786 x 0.77965 x 1.012 = 116.28.
    assert ckd_epi_2021(0.6, 40, "female").value == pytest.approx(116.3, abs=0.1)


def test_ckd_epi_2021_woman_with_reduced_function() -> None:
    # 70-year-old woman, Scr 2.0: (2.0/0.7)^-1.2 = 0.28337; 0.9938^70 = 0.64697;
    # 142 x 0.28337 x 0.64697 x 1.012 = 26.35 (KDIGO G4).
    assert ckd_epi_2021(2.0, 70, "female").value == pytest.approx(26.4, abs=0.1)


def test_ckd_epi_2021_has_no_race_term_and_falls_with_creatinine() -> None:
    values = [ckd_epi_2021(scr, 55, "male").value for scr in (0.5, 0.9, 1.2, 2.0, 4.0)]
    assert values == sorted(values, reverse=True)
    assert "race" not in ckd_epi_2021.__code__.co_varnames


def test_ckd_epi_2021_is_continuous_at_kappa() -> None:
    below = ckd_epi_2021(0.9 - 1e-9, 50, "male").value
    above = ckd_epi_2021(0.9 + 1e-9, 50, "male").value
    assert math.isclose(below, above, abs_tol=0.1)


def test_cockcroft_gault_man() -> None:
    # (140 - 60) x 72 / (72 x 1.0) = 80 mL/min.
    estimate = cockcroft_gault(1.0, 60, "male", 72)
    assert estimate.value == pytest.approx(80.0)
    assert estimate.method == COCKCROFT_GAULT
    assert estimate.unit == "mL/min"


def test_cockcroft_gault_woman() -> None:
    # (140 - 65) x 60 / (72 x 1.2) x 0.85 = 4500 / 86.4 x 0.85 = 44.27 mL/min.
    assert cockcroft_gault(1.2, 65, "female", 60).value == pytest.approx(44.3, abs=0.05)


@pytest.mark.parametrize(
    ("scr", "age", "weight"), [(0.0, 60, 70), (-1.0, 60, 70), (1.0, 17, 70), (1.0, 60, 0)]
)
def test_inputs_outside_the_equations_are_refused(scr: float, age: float, weight: float) -> None:
    with pytest.raises(RenalInputError):
        cockcroft_gault(scr, age, "male", weight)
    if weight > 0:
        with pytest.raises(RenalInputError):
            ckd_epi_2021(scr, age, "male")
