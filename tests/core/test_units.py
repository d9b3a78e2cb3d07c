"""UCUM conversion to each analyte's canonical unit (reference §3.2 conversion table)."""

from __future__ import annotations

import pytest

from rccnav.core.units import UnitProblem, conversion_factor, to_canonical
from rccnav.knowledge.model import KnowledgeBase


def convert(kb: KnowledgeBase, value: float, unit: str, analyte: str) -> float:
    result = to_canonical(value, unit, kb.analytes[analyte])
    assert not isinstance(result, UnitProblem), result
    return result


@pytest.mark.parametrize(
    ("value", "unit", "expected_g_dl"),
    [
        (13.5, "g/dL", 13.5),
        (135, "g/L", 13.5),  # g/dL x 10 = g/L
        # Hb monomer: g/dL x 0.6206 = mmol/L, mmol/L x 1.611 = g/dL (reference §3.2)
        (8.378, "mmol/L", 8.378 * 1.611),
    ],
)
def test_hemoglobin_units(kb: KnowledgeBase, value: float, unit: str, expected_g_dl: float) -> None:
    # 1.611 is rounded in the reference; the KB uses the monomer molar mass 16114.5 g/mol.
    assert convert(kb, value, unit, "hemoglobin") == pytest.approx(expected_g_dl, rel=1e-3)


def test_hemoglobin_mmol_per_litre_matches_reference_factor(kb: KnowledgeBase) -> None:
    # 12.0 g/dL x 0.6206 = 7.447 mmol/L, and back.
    assert convert(kb, 12.0 * 0.6206, "mmol/L", "hemoglobin") == pytest.approx(12.0, rel=1e-3)


@pytest.mark.parametrize(
    ("value", "unit", "expected_mg_dl"),
    [
        (10.0, "mg/dL", 10.0),
        (2.50, "mmol/L", 10.02),  # mmol/L x 4.008 = mg/dL: 10 mg/dL is about 2.50 mmol/L
        (2.12, "mmol/L", 8.5),  # lower end of the typical range, 8.5 mg/dL
    ],
)
def test_calcium_units(kb: KnowledgeBase, value: float, unit: str, expected_mg_dl: float) -> None:
    assert convert(kb, value, unit, "calcium_total") == pytest.approx(expected_mg_dl, abs=0.01)


def test_ionized_calcium_canonical_is_mmol_per_litre(kb: KnowledgeBase) -> None:
    # Ionized calcium about 1.12-1.32 mmol/L is about 4.5-5.3 mg/dL (same factors as total).
    assert convert(kb, 5.3, "mg/dL", "calcium_ionized") == pytest.approx(1.32, abs=0.005)


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (400, "10*9/L"),
        (400, "10*3/uL"),  # 1 x 10^9/L = 1 x 10^3/uL ("K/uL")
        (400_000, "/uL"),  # = 1,000/uL per 10^9/L
        (400_000, "/mm3"),  # = 1,000/mm3 per 10^9/L
    ],
)
def test_platelet_count_units(kb: KnowledgeBase, value: float, unit: str) -> None:
    assert convert(kb, value, unit, "platelets") == pytest.approx(400.0)


def test_ucum_thousands_is_not_read_as_thirty(kb: KnowledgeBase) -> None:
    # Plain pint reads 10*3/uL as 30/uL (DESIGN.md): 7.5 K/uL must stay 7.5 x 10^9/L.
    assert convert(kb, 7.5, "10*3/uL", "neutrophils") == pytest.approx(7.5)


@pytest.mark.parametrize(
    ("value", "unit", "expected_u_l"),
    [(250, "U/L", 250.0), (4.0, "ukat/L", 240.0)],  # ukat/L = U/L x 0.01667, i.e. 1 ukat = 60 U
)
def test_ldh_units(kb: KnowledgeBase, value: float, unit: str, expected_u_l: float) -> None:
    assert convert(kb, value, unit, "ldh") == pytest.approx(expected_u_l)


def test_albumin_g_per_litre(kb: KnowledgeBase) -> None:
    assert convert(kb, 35, "g/L", "albumin") == pytest.approx(3.5)


@pytest.mark.parametrize("unit", ["g/dL)(", "10.*3/uL", "not a unit"])
def test_invalid_ucum_string_is_a_unit_problem(kb: KnowledgeBase, unit: str) -> None:
    result = to_canonical(13.0, unit, kb.analytes["hemoglobin"])
    assert isinstance(result, UnitProblem)
    assert unit in result.message


@pytest.mark.parametrize(
    ("unit", "analyte"),
    [("kg", "hemoglobin"), ("%", "hemoglobin"), ("mmol/L", "albumin"), ("mg/dL", "ldh")],
)
def test_dimension_incompatible_unit_is_a_unit_problem(
    kb: KnowledgeBase, unit: str, analyte: str
) -> None:
    # albumin has no molar mass in the KB, so mmol/L cannot be converted to g/dL.
    result = to_canonical(1.0, unit, kb.analytes[analyte])
    assert isinstance(result, UnitProblem)
    assert "cannot be converted" in result.message


def test_surrounding_whitespace_is_ignored(kb: KnowledgeBase) -> None:
    assert convert(kb, 135, " g/L ", "hemoglobin") == pytest.approx(13.5)


def test_conversion_factor_is_cached_per_unit() -> None:
    before = conversion_factor.cache_info().hits
    conversion_factor("g/L", "g/dL", None)
    conversion_factor("g/L", "g/dL", None)
    assert conversion_factor.cache_info().hits > before


@pytest.mark.parametrize(
    ("unit", "factor"),
    [("/mm3", 0.001), ("/uL", 0.001), ("10*3/uL", 1.0), ("10*9/L", 1.0)],
)
def test_count_conversion_factors_are_exact_decimals(unit: str, factor: float) -> None:
    # Binary floating point must not turn 10^-3 into 0.0010000000000000002: a value on a
    # fallback limit would then land outside it.
    assert conversion_factor(unit, "10*9/L", None) == factor


@pytest.mark.parametrize("unit", ["/mm3", "/uL"])
def test_calcium_and_count_limits_survive_conversion(kb: KnowledgeBase, unit: str) -> None:
    assert convert(kb, 450_000, unit, "platelets") == 450.0
    assert convert(kb, 400_000, unit, "platelets") == 400.0
    assert convert(kb, 7_000, unit, "neutrophils") == 7.0
