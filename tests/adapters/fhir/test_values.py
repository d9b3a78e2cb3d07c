"""FHIR value readers: dates are remembered, but never without bound."""

from __future__ import annotations

from datetime import date

from rccnav.adapters.fhir import values
from rccnav.adapters.fhir.values import parse_date
from rccnav.knowledge.terminology import _MEMBERSHIP_MEMORY, default_terminology


def test_a_remembered_date_reads_as_the_first_time() -> None:
    for text in ("2024-03-05", "2024-03", "2024", "2024-03-05T23:30:00+14:00", " 2024-03-05 "):
        first, again = parse_date(text), parse_date(text)
        assert first is not None and again is not None
        assert (again.day, again.precise, again.text) == (first.day, first.precise, first.text)
    assert parse_date("2024-03-05T23:30:00+14:00").day == date(2024, 3, 5)  # type: ignore[union-attr]
    assert parse_date("2024-02-30") is None and parse_date("2024-02-30") is None
    assert parse_date(20240305) is None


def test_date_memory_is_bounded() -> None:
    for second in range(values._PARSED_MEMORY + 100):
        parse_date(f"2020-01-01T00:00:{second}")
    assert len(values._PARSED) <= values._PARSED_MEMORY


def test_code_memory_is_bounded() -> None:
    term = default_terminology()
    for number in range(_MEMBERSHIP_MEMORY + 100):
        term.memberships("http://loinc.org", f"{number}-0")
    assert len(term._memberships) <= _MEMBERSHIP_MEMORY
    assert term.lookup("observation-kind", "http://loinc.org", "718-7") is not None
