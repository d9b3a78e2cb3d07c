"""A reference range without a unit is read in the result's unit only where it fits it.

FHIR referenceRange.low/high are SimpleQuantity with an optional unit. Read blindly in
the result's unit, haemoglobin 125 g/L with a range "13-17" (g/dL) had an LLN of
13 g/L (1.3 g/dL) and anaemia was missed; calcium 2.7 mmol/L (10.8 mg/dL) with a range
"8.5-10.2" (mg/dL) had an ULN of 10.2 mmol/L and hypercalcaemia was missed.
"""

from __future__ import annotations

from typing import Any

import pytest

from rccnav.core.assess import assess
from rccnav.knowledge.loader import default_knowledge_base

from .builders import ON, base, lab, read

HB, CA, PLT, ALB = "718-7", "17861-6", "777-3", "1751-7"


def _unitless(resource: dict[str, Any], low: float | None, high: float | None) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    if low is not None:
        ref["low"] = {"value": low}
    if high is not None:
        ref["high"] = {"value": high}
    resource["referenceRange"] = [ref]
    return resource


def _factor(resources: list[dict[str, Any]], name: str) -> tuple[str, list[str]]:
    intake = read(resources)
    result = assess(intake.case, default_knowledge_base(), ON)
    (factor,) = [f for f in result.imdc.factors if f.name == name]
    return str(factor.status), [w.message for w in intake.warnings]


@pytest.mark.parametrize(
    ("resource", "low", "high", "name", "status"),
    [
        # g/dL limits with a g/L result: not used; the default LLN (13.5 g/dL, male) decides.
        (lab(HB, 125, "g/L", id="r"), 13.0, 17.0, "hemoglobin", "present"),
        # mg/dL limits with a mmol/L result: not used; 10.8 mg/dL is above the default ULN.
        (lab(CA, 2.7, "mmol/L", id="r"), 8.5, 10.2, "calcium", "present"),
        # /uL limits with a 10*9/L result: not used; 450 lies within the default ULN
        # interval (400-450), so the factor is unknown, never absent.
        (lab(PLT, 450, "10*9/L", id="r"), 150000, 400000, "platelets", "unknown"),
    ],
)
def test_a_unitless_range_in_another_unit_is_not_used(
    resource: dict[str, Any], low: float, high: float, name: str, status: str
) -> None:
    resources = base(_unitless(resource, low, high), lab(ALB, 4.0, "g/dL"))
    found, messages = _factor(resources, name)
    assert found == status
    assert any("has no unit and does not fit" in m for m in messages)


@pytest.mark.parametrize(
    ("resource", "low", "high", "name", "status"),
    [
        (lab(HB, 125, "g/L", id="r"), 130, 170, "hemoglobin", "present"),
        (lab(HB, 135, "g/L", id="r"), 130, 170, "hemoglobin", "absent"),
        (lab(CA, 2.7, "mmol/L", id="r"), 2.15, 2.60, "calcium", "present"),
        (lab(PLT, 420, "10*9/L", id="r"), 150, 400, "platelets", "present"),
    ],
)
def test_a_unitless_range_in_the_results_unit_is_used(
    resource: dict[str, Any], low: float, high: float, name: str, status: str
) -> None:
    resources = base(_unitless(resource, low, high), lab(ALB, 4.0, "g/dL"))
    found, messages = _factor(resources, name)
    assert found == status
    assert not any("has no unit" in m for m in messages)
