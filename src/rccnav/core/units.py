"""UCUM unit normalisation through ucumvert (UCUM grammar on top of pint).

Plain pint misreads UCUM (``10*3/uL`` as 30/µL), so every unit string goes
through ucumvert's parser. Building its registry takes about half a second and a
parse about a millisecond, so the units laboratories report are answered from a
table generated from ucumvert (``unit_catalogue``), and any other unit is parsed
once and cached per (unit, analyte) pair; ``assess()`` then pays a dict look-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rccnav.core.unit_catalogue import stored_factors
from rccnav.knowledge.model import Analyte


@dataclass(frozen=True, slots=True)
class UnitProblem:
    message: str


@lru_cache(maxsize=1)
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # imported lazily: 0.3 s registry start-up

    return PintUcumRegistry()


@lru_cache(maxsize=4096)
def _parse(unit: str) -> Any:
    return _registry().from_ucum(unit)


@lru_cache(maxsize=4096)
def conversion_factor(unit: str, canonical: str, molar_mass: float | None) -> float | UnitProblem:
    """Multiplier taking a value in ``unit`` to ``canonical``, or why it cannot."""
    stored = stored_factors().get((unit, canonical, molar_mass))
    if stored is not None:
        return stored
    return ucum_conversion_factor(unit, canonical, molar_mass)


def ucum_conversion_factor(
    unit: str, canonical: str, molar_mass: float | None
) -> float | UnitProblem:
    """The factor as ucumvert computes it: the truth the stored table is checked against."""
    try:
        source = _parse(unit)
        target = _parse(canonical)
    except Exception:  # ucumvert raises several parser-specific types
        return UnitProblem(f"unit {unit!r} is not valid UCUM")
    if not hasattr(source, "dimensionality"):
        return UnitProblem(f"unit {unit!r} is not a measurable UCUM unit")
    try:
        return _decimal(source.to(target).magnitude)
    except Exception:
        pass
    if molar_mass is not None:
        grams_per_mole = _parse("g/mol") * molar_mass
        for candidate in (source * grams_per_mole, source / grams_per_mole):
            try:
                return _decimal(candidate.to(target).magnitude)
            except Exception:
                continue
    return UnitProblem(f"unit {unit!r} cannot be converted to {canonical}")


def _decimal(factor: float) -> float:
    # UCUM factors are exact decimals (or molar-mass ratios known to ~6 digits); pint's
    # binary arithmetic gives 1/mm3 -> 10*9/L as 0.0010000000000000002, which would push
    # a count lying exactly on a limit across it. 12 significant digits drop that noise.
    return float(f"{float(factor):.12g}")


def to_canonical(value: float, unit: str, analyte: Analyte) -> float | UnitProblem:
    factor = conversion_factor(unit.strip(), analyte.canonical_unit, analyte.molar_mass_g_per_mol)
    if isinstance(factor, UnitProblem):
        return factor
    return value * factor
