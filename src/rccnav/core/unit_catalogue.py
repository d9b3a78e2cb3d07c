"""The lab units rccnav expects to meet, and their precomputed UCUM conversion factors.

Building ucumvert's registry (pint underneath) costs about half a second, more than
everything else a command-line assessment does. The factors for the units laboratories
actually report are therefore generated once from ucumvert
(``scripts/generate-unit-factors``) into ``unit_factors.json`` and looked up;
ucumvert stays the truth for any other unit, and a test checks every stored factor
against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources

# Units reported by laboratories for the analytes rccnav reads, grouped by what they
# measure; every canonical unit in the knowledge base is converted from each of them.
COMMON_LAB_UNITS: tuple[str, ...] = (
    # mass concentration
    "g/dL", "g/L", "mg/dL", "mg/L", "mg/mL", "ug/mL", "ug/dL", "ug/L", "ng/mL", "g/mL",
    # substance concentration (converted through the analyte's molar mass)
    "mol/L", "mmol/L", "umol/L", "nmol/L",
    # cell counts
    "10*9/L", "10*3/uL", "10*3/mm3", "10*6/L", "10*12/L", "10*3/L", "/uL", "/mm3", "/nL", "/L",
    # catalytic activity
    "U/L", "[IU]/L", "U/mL", "mU/mL", "ukat/L", "nkat/L",
    # clearance / filtration rate
    "mL/min", "mL/min/{1.73_m2}", "mL/s", "L/min",
    # proportions
    "%", "1",
)  # fmt: skip

Key = tuple[str, str, float | None]


def _key_text(unit: str, canonical: str, molar_mass: float | None) -> str:
    return f"{unit}\t{canonical}\t{'' if molar_mass is None else repr(molar_mass)}"


@lru_cache(maxsize=1)
def stored_factors() -> Mapping[Key, float]:
    """The generated factors, keyed by (unit, canonical unit, molar mass)."""
    raw = resources.files("rccnav.core").joinpath("unit_factors.json").read_bytes()
    table: dict[Key, float] = {}
    for key_text, factor in json.loads(raw).items():
        unit, canonical, molar = key_text.split("\t")
        table[(unit, canonical, float(molar) if molar else None)] = float(factor)
    return table


def generate(targets: Iterable[tuple[str, float | None]]) -> dict[str, float]:
    """Factors from ucumvert for every common unit into every (canonical, molar mass)."""
    from rccnav.core.units import UnitProblem, ucum_conversion_factor

    out: dict[str, float] = {}
    for canonical, molar_mass in sorted(set(targets), key=lambda t: (t[0], t[1] or 0.0)):
        for unit in COMMON_LAB_UNITS:
            factor = ucum_conversion_factor(unit, canonical, molar_mass)
            if not isinstance(factor, UnitProblem):
                out[_key_text(unit, canonical, molar_mass)] = factor
    return out


def main() -> None:
    from pathlib import Path

    from rccnav.knowledge.loader import default_knowledge_base

    kb = default_knowledge_base()
    table = generate((a.canonical_unit, a.molar_mass_g_per_mol) for a in kb.analytes.values())
    path = Path(__file__).with_name("unit_factors.json")
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(table)} factors to {path}")
