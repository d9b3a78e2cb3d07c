"""Builders shared by the core tests: one known baseline Case, changed per test.

``make_case`` deep-merges changes into a complete, fully known case whose IMDC and
MSKCC factors are all absent (favorable risk in both models), so every test states
only what it changes. Every lab carries its own reference range unless a test
removes it, so the lab's limits decide (IMDC [1]: "the lab's LLN/ULN").
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any

import pytest
import yaml

from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment, Factor, RiskGroupName, RiskResult
from rccnav.core.case import Case
from rccnav.knowledge.loader import KB_FILES, build, default_data_dir, default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

#: The assessment date every test uses unless it says otherwise.
ON = date(2026, 11, 2)
#: Labs are drawn a week before ``ON``: inside the 28-day look-back window.
LAB_DAY = ON - timedelta(days=7)


def lab(
    value: float,
    unit: str,
    low: float | None = None,
    high: float | None = None,
    *,
    day: date | None = LAB_DAY,
    **extra: Any,
) -> dict[str, Any]:
    """A lab result as the case file writes it."""
    out: dict[str, Any] = {"value": value, "unit": unit, "low": low, "high": high}
    out["date"] = day.isoformat() if day is not None else None
    out.update(extra)
    return out


#: A complete case with no adverse IMDC or MSKCC factor:
#: KPS 90; diagnosed > 1 year before ON; every lab inside its own lab range.
BASELINE: dict[str, Any] = {
    "case_id": "test-case",
    "sex": "female",
    "birth_date": "1958-04-10",
    "diagnosis": {
        "date": "2022-03-14",
        "histology": "clear-cell",
        "sarcomatoid": False,
        "metastasis_date": "2026-09-01",
    },
    "performance": {"kps": 90, "date": LAB_DAY.isoformat()},
    "labs": {
        "hemoglobin": lab(13.1, "g/dL", 12.0, 15.5),
        "calcium_total": lab(9.4, "mg/dL", 8.5, 10.2),
        "albumin": lab(4.0, "g/dL", 3.5, 5.0),
        "neutrophils": lab(4.2, "10*9/L", 1.5, 7.5),
        "platelets": lab(260, "10*9/L", 150, 400),
        "ldh": lab(180, "U/L", 125, 250),
    },
}


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_case(changes: Mapping[str, Any] | None = None, **sections: Any) -> Case:
    """The baseline case with ``changes`` (and keyword sections) deep-merged in.

    A mapping merges into the baseline's mapping; any other value (``None``, a
    list, a scalar) replaces it, so ``labs={"hemoglobin": None}`` makes Hb unknown.
    """
    data = _merge(BASELINE, changes or {})
    data = _merge(data, sections)
    return Case.model_validate(data)


def factor(result: RiskResult, name: str) -> Factor:
    matches = [f for f in result.factors if f.name == name]
    assert len(matches) == 1, f"{result.model} has no single factor {name!r}"
    return matches[0]


def risk_result(*possible: RiskGroupName, present: int = 0, unknown: int = 0) -> RiskResult:
    """A hand-made IMDC result with the given possible groups (for decision tests)."""
    group = possible[0] if len(possible) == 1 else None
    return RiskResult(
        model="imdc",
        risk_group=group,
        possible_groups=possible,
        factor_count_min=present,
        factor_count_max=present + unknown,
        factors=(),
        missing=(),
        survival=(),
        rule="prognosis.imdc",
        sources=("heng-2009",),
    )


def kb_data() -> dict[str, Any]:
    """The bundled knowledge-base YAML, merged into one mapping (fresh copy)."""
    merged: dict[str, Any] = {}
    for name in KB_FILES:
        merged.update(yaml.safe_load((default_data_dir() / name).read_text()) or {})
    return merged


_VARIANTS = itertools.count()


def kb_variant(change: Callable[[dict[str, Any]], None]) -> KnowledgeBase:
    """A validated knowledge base built from the bundled data after ``change(data)``.

    Each variant gets its own checksum: the core memoises by checksum.
    """
    data = kb_data()
    change(data)
    return build(data, f"test-variant-{next(_VARIANTS)}")


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


@pytest.fixture(scope="session")
def run(kb: KnowledgeBase) -> Callable[..., Assessment]:
    """``run(case, on=ON, **kwargs)``: assess with the bundled knowledge base."""

    def _run(case: Case, on: date = ON, **kwargs: Any) -> Assessment:
        return assess(case, kb, on, **kwargs)

    return _run
