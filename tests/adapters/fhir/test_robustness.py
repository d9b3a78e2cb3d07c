"""Property: whatever a sender puts in a field, reading gives a Case or an InputError."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rccnav.adapters.errors import InputError

from .builders import read

VIGNETTE = (
    Path(__file__).resolve().parents[3].parent / "shared" / "vignettes" / "p10-after-ipi-nivo.json"
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            paths.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths.extend(_paths(child, (*prefix, index)))
    return paths


@pytest.mark.skipif(not VIGNETTE.exists(), reason="../shared/vignettes is not present")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), replacement=json_values)
def test_any_field_replaced_by_any_json(data: st.DataObject, replacement: Any) -> None:
    document = orjson.loads(VIGNETTE.read_bytes())
    paths = [p for p in _paths(document) if p[0] == "entry"]
    path = data.draw(st.sampled_from(paths))
    mutated = copy.deepcopy(document)
    target = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    with contextlib.suppress(InputError):  # a clear rejection is fine; a crash is not
        read(orjson.dumps(mutated))
