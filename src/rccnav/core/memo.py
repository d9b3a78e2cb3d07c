"""Size-capped memo tables for ``assess()``: every cache in the core is one of these.

A memo is a plain ``dict`` (a hit is one C-level ``dict.get``) that forgets its oldest
entry once it holds ``maxsize``, so no cache grows with the number of patients or of
knowledge-base versions seen by a long-running service. Each memo says what its key
holds:

- ``"knowledge"``: a value derived from knowledge-base content only (keyed by its
  checksum and which tables, groups, rules or options it is about), the same for every
  patient it is asked for;
- ``"patient"``: a decision for the patient, keyed by every value it reads from the
  record (histology, line, possible risk groups, safety facts ...).
  :func:`clear_patient_memos` empties these, so a benchmark can measure a call that
  reuses no earlier patient's answer, and :func:`bypassed` turns them off so a test can
  compare the memoised answer with the computed one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MemoKind = Literal["knowledge", "patient"]

_ALL: list[Memo[object, object]] = []
#: Held while a memo is written (eviction and insertion), by every memo.
WRITING = threading.Lock()


class Memo(dict[K, V]):
    """A dict that drops its oldest entry (insertion order) beyond ``maxsize`` entries."""

    __slots__ = ("kind", "maxsize", "name")

    def __init__(self, name: str, kind: MemoKind, maxsize: int) -> None:
        super().__init__()
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self.kind = kind
        self.maxsize = maxsize
        _ALL.append(self)  # type: ignore[arg-type]

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (forgetting the oldest entry if full); return it."""
        with WRITING:  # threads of a service: one eviction at a time (reads need none)
            if key not in self and len(self) >= self.maxsize:
                del self[next(iter(self))]
            self[key] = value
        return value


class _Switch:
    __slots__ = ("patient_memos",)

    def __init__(self) -> None:
        self.patient_memos = True


#: Read on every call: ``SWITCH.patient_memos`` is False inside :func:`bypassed`.
SWITCH = _Switch()


def memos() -> tuple[Memo[object, object], ...]:
    """Every memo the core has created (for tests and the benchmark)."""
    return tuple(_ALL)


def clear_patient_memos() -> None:
    """Forget every entry keyed by patient values (knowledge-base tables are kept)."""
    for memo in _ALL:
        if memo.kind == "patient":
            memo.clear()


@contextmanager
def bypassed() -> Iterator[None]:
    """Compute every patient-keyed answer afresh (neither read nor written) inside."""
    before = SWITCH.patient_memos
    SWITCH.patient_memos = False
    try:
        yield
    finally:
        SWITCH.patient_memos = before
