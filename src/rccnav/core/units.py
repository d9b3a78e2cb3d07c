"""UCUM unit normalisation through ucumvert (UCUM grammar on top of pint).

Plain pint misreads UCUM (``10*3/uL`` as 30/µL), so every unit string goes
through ucumvert's parser. Parsing costs about a millisecond, so conversion
factors are cached per (unit, analyte) pair; ``assess()`` then pays a dict look-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
