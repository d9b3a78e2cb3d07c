"""Kidney function from serum creatinine when no eGFR result is reported.

Two estimates, each named wherever it is shown, because they answer different
questions and are not interchangeable:

- **eGFR, CKD-EPI 2021** (race-free creatinine equation; Inker LA et al.,
  N Engl J Med 2021;385:1737-49, as published by the National Kidney
  Foundation): mL/min/1.73 m², for staging kidney function.
- **Creatinine clearance, Cockcroft-Gault** (Cockcroft DW, Gault MH, Nephron
  1976;16:31-41): mL/min, not normalised to body surface area; the measure drug
  labels use for renal dose adjustment (e.g. zoledronic acid). It needs the
  body weight.

Both need an adult's age and sex; without them the estimate is unknown (never a
default). Creatinine is in mg/dL (IDMS-standardised, as both equations assume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rccnav.core.records import quick_init

RenalSex = Literal["female", "male"]

CKD_EPI_2021 = "CKD-EPI 2021 (race-free creatinine equation, Inker 2021)"
COCKCROFT_GAULT = "Cockcroft-Gault creatinine clearance (Cockcroft 1976)"

# CKD-EPI 2021 coefficients (NKF: eGFRcr = 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200
# x 0.9938^Age x 1.012 [if female]; k = 0.7 female / 0.9 male, a = -0.241 / -0.302).
_KAPPA = {"female": 0.7, "male": 0.9}
_ALPHA = {"female": -0.241, "male": -0.302}
_FEMALE_FACTOR = 1.012
_AGE_BASE = 0.9938
_MULTIPLIER = 142.0
_HIGH_SLOPE = -1.200
# Cockcroft-Gault: (140 - age) x weight kg / (72 x Scr mg/dL), x 0.85 for women.
_CG_FEMALE_FACTOR = 0.85
# Both equations were derived in adults.
ADULT_AGE = 18


@quick_init
@dataclass(frozen=True, slots=True)
class RenalEstimate:
    value: float
    unit: str
    method: str


class RenalInputError(ValueError):
    """An input outside what the equation was made for."""


def _check(creatinine_mg_dl: float, age_years: float) -> None:
    if creatinine_mg_dl <= 0:
        raise RenalInputError(f"creatinine must be positive, got {creatinine_mg_dl}")
    if age_years < ADULT_AGE:
        raise RenalInputError(f"the equation is for adults; age {age_years:g} years")


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: RenalSex) -> RenalEstimate:
    """eGFR in mL/min/1.73 m² by the 2021 CKD-EPI creatinine equation (no race term)."""
    _check(creatinine_mg_dl, age_years)
    ratio = creatinine_mg_dl / _KAPPA[sex]
    egfr = (
        _MULTIPLIER
        * min(ratio, 1.0) ** _ALPHA[sex]
        * max(ratio, 1.0) ** _HIGH_SLOPE
        * _AGE_BASE**age_years
        * (_FEMALE_FACTOR if sex == "female" else 1.0)
    )
    return RenalEstimate(round(egfr, 1), "mL/min/{1.73_m2}", CKD_EPI_2021)


def cockcroft_gault(
    creatinine_mg_dl: float, age_years: float, sex: RenalSex, weight_kg: float
) -> RenalEstimate:
    """Creatinine clearance in mL/min by Cockcroft-Gault (actual body weight)."""
    _check(creatinine_mg_dl, age_years)
    if weight_kg <= 0:
        raise RenalInputError(f"weight must be positive, got {weight_kg}")
    clearance = (140.0 - age_years) * weight_kg / (72.0 * creatinine_mg_dl)
    if sex == "female":
        clearance *= _CG_FEMALE_FACTOR
    return RenalEstimate(round(clearance, 1), "mL/min", COCKCROFT_GAULT)
