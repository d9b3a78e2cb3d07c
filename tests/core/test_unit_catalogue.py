"""The stored unit factors are ucumvert's own answers, and cover the knowledge base."""

from __future__ import annotations

import pytest

from rccnav.core.unit_catalogue import COMMON_LAB_UNITS, generate, stored_factors
from rccnav.core.units import UnitProblem, conversion_factor, ucum_conversion_factor
from rccnav.knowledge.model import KnowledgeBase


def test_every_stored_factor_is_what_ucumvert_computes() -> None:
    table = stored_factors()
    assert table, "unit_factors.json is empty"
    for (unit, canonical, molar_mass), factor in table.items():
        assert ucum_conversion_factor(unit, canonical, molar_mass) == factor, (unit, canonical)


def test_table_covers_every_analyte_of_the_knowledge_base(kb: KnowledgeBase) -> None:
    targets = [(a.canonical_unit, a.molar_mass_g_per_mol) for a in kb.analytes.values()]
    expected = generate(targets)
    stored = {f"{u}\t{c}\t{'' if m is None else repr(m)}" for u, c, m in stored_factors()}
    missing = sorted(set(expected) - stored)
    assert not missing, (
        "unit_factors.json is out of date with the knowledge base: run "
        f"scripts/generate-unit-factors ({len(missing)} missing, e.g. {missing[:3]})"
    )


def test_known_conversions_come_from_the_table() -> None:
    assert stored_factors()[("10*3/uL", "10*9/L", None)] == 1.0
    assert conversion_factor("10*3/uL", "10*9/L", None) == 1.0
    assert conversion_factor("g/L", "g/dL", 16114.5) == pytest.approx(0.1)


def test_units_outside_the_table_still_go_through_ucumvert() -> None:
    odd = "cg/dL"
    assert odd not in COMMON_LAB_UNITS
    assert conversion_factor(odd, "g/dL", None) == pytest.approx(0.01)
    assert isinstance(conversion_factor("not-a-unit", "g/dL", None), UnitProblem)
