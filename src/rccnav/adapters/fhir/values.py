"""Small, defensive readers for FHIR JSON values (plain dicts from orjson).

Real feeds send DSTU2 shapes, strings where objects belong and placeholders
such as ``"YYYY-MM-DD"``. Every helper here returns ``None`` (or an empty
sequence) for anything that is not the expected shape, so a malformed element
becomes an unknown item instead of a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

JSON = dict[str, Any]

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def as_dict(value: Any) -> JSON | None:
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def as_str(value: Any) -> str | None:
    # Hot path: a type check, not a strip (whitespace-only strings are rare and harmless).
    return value if type(value) is str and value else None


#: No clinical value is anywhere near this; a larger one is a corrupted or hostile field.
_MAX_NUMBER = 1e12


def as_number(value: Any) -> float | None:
    """A finite number of sane size, else None (the item becomes unknown)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and -_MAX_NUMBER <= value <= _MAX_NUMBER:
        return float(value)
    return None


def dicts(value: Any) -> Iterator[JSON]:
    for item in as_list(value):
        if isinstance(item, dict):
            yield item


class FhirDate:
    """A FHIR date/dateTime reduced to its calendar date, remembering its precision."""

    __slots__ = ("day", "precise", "text")

    def __init__(self, day: date, precise: bool, text: str) -> None:
        self.day = day
        self.precise = precise
        self.text = text

    def __repr__(self) -> str:
        return f"FhirDate({self.text!r})"


def parse_date(value: Any) -> FhirDate | None:
    """``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or a dateTime; partial dates take day 1.

    The calendar date is read as written (the source's local date); a time zone
    offset does not move it to another day. A record repeats the same few dates many
    times, so answers are remembered (FhirDate is never changed once made).
    """
    if type(value) is not str:
        return None
    found = _PARSED.get(value, _UNPARSED)
    if found is _UNPARSED:
        found = _parse_date(value)
        if len(_PARSED) >= _PARSED_MEMORY:
            _PARSED.clear()  # bounded: odd input cannot grow it without limit
        _PARSED[value] = found
    return found  # type: ignore[return-value]


def _parse_date(value: str) -> FhirDate | None:
    text = as_str(value)
    if text is None:
        return None
    match = _DATE.match(text.strip())
    if match is None:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        parsed = date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    return FhirDate(parsed, precise=day is not None, text=text.strip())


_PARSED: dict[str, FhirDate | None] = {}
_PARSED_MEMORY = 65_536
_UNPARSED = object()


def last_possible_day(found: FhirDate) -> date:
    """The last calendar day a partial date (``YYYY`` or ``YYYY-MM``) can stand for."""
    if found.precise:
        return found.day
    match = _DATE.match(found.text)
    if match is not None and match.group(2) is None:
        return date(found.day.year, 12, 31)
    next_month = date(found.day.year + found.day.month // 12, found.day.month % 12 + 1, 1)
    return date.fromordinal(next_month.toordinal() - 1)


def period_start(value: Any) -> FhirDate | None:
    period = as_dict(value)
    return parse_date(period.get("start")) if period else None


def period_end(value: Any) -> FhirDate | None:
    period = as_dict(value)
    return parse_date(period.get("end")) if period else None


def codings(concept: Any) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(system, code, display) for each coding of a CodeableConcept (or a bare Coding)."""
    if type(concept) is not dict:
        return
    listed = concept.get("coding")
    if listed is None and ("code" in concept or "system" in concept):
        listed = [concept]
    if type(listed) is not list:
        return
    for coding in listed:
        if type(coding) is dict:
            # as_str inlined: this runs for every coding of every concept read.
            system = coding.get("system")
            code = coding.get("code")
            display = coding.get("display")
            yield (
                system if type(system) is str and system else None,
                code if type(code) is str and code else _code(code),
                display if type(display) is str and display else None,
            )


def _code(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return as_str(value)


def concept_texts(concept: Any) -> list[str]:
    """The human-readable parts of a CodeableConcept: its text, then each display."""
    cc = as_dict(concept)
    if cc is None:
        return [concept] if isinstance(concept, str) and concept.strip() else []
    texts: list[str] = []
    text = as_str(cc.get("text"))
    if text:
        texts.append(text)
    for _system, _c, display in codings(cc):
        if display and display not in texts:
            texts.append(display)
    return texts


def reference_of(value: Any) -> str | None:
    ref = as_dict(value)
    return as_str(ref.get("reference")) if ref else None


def profiles_of(resource: JSON) -> list[str]:
    meta = as_dict(resource.get("meta"))
    return [p for p in as_list(meta.get("profile")) if isinstance(p, str)] if meta else []


def extension_urls(resource: JSON) -> list[str]:
    return [url for ext in dicts(resource.get("extension")) if (url := as_str(ext.get("url")))]


def status_code(value: Any) -> str | None:
    """A status that may be a code (R4), a CodeableConcept (R4 Condition) or a DSTU2 string."""
    if isinstance(value, str):
        return value.strip().lower() or None
    for _system, code, _display in codings(value):
        if code:
            return code.lower()
    return None
