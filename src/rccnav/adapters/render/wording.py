"""Clinician wording for rendered reports: numbered references, review notes, display units.

The core speaks in knowledge-base ids and UCUM codes because machines read the JSON;
a clinician reading text or Markdown should see a numbered reference list, review
status in plain words, and units as printed on a lab report (x10^9/L, not 10*9/L).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rccnav.knowledge.model import KnowledgeBase, Source, TherapyTable

# Citation markers: build_document writes source ids between these control characters,
# and number_citations() turns them into [1], [2] in order of first appearance.
_OPEN, _SEP, _CLOSE = "\x02", "\x1f", "\x03"
_MARKER = re.compile(f"{_OPEN}([^{_CLOSE}]*){_CLOSE}")

REVIEW_NOTES = {
    "verified": "checked against the cited source",
    "unverified": "not yet checked against the primary source",
    "design-choice": "rccnav's own choice where the guidelines are silent",
}

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
# UCUM powers of ten ("10*9/L"), micro prefix ("uL", "umol/L") and cubed lengths ("mm3").
_POWER = re.compile(r"(?<![\w.*])10\*(-?\d+)")
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:L|mol|g|IU|kat)\b)")
_CUBED = re.compile(r"(?<![A-Za-z])([cm]m)3\b")
_ANNOTATION = re.compile(r"\[(IU|iU)\]")


def display_units(text: str) -> str:
    """UCUM codes as a clinician reads them: 10*9/L -> ×10⁹/L, 10*3/uL -> ×10³/µL."""
    text = _POWER.sub(lambda m: "×10" + m.group(1).translate(_SUPERSCRIPT), text)
    text = _MICRO.sub("µ", text)
    text = _CUBED.sub(r"\1³", text)
    return _ANNOTATION.sub(r"\1", text)


def review_note(status: str | None) -> str:
    """A review status in clinical words (unknown statuses are shown as written)."""
    if not status:
        return ""
    return REVIEW_NOTES.get(status, status.replace("-", " "))


def cite(sources: Iterable[str]) -> str:
    """A citation placeholder; number_citations() replaces it with [n, m]."""
    ids = list(dict.fromkeys(sources))
    return f"{_OPEN}{_SEP.join(ids)}{_CLOSE}" if ids else ""


class Citations:
    """Numbers source ids in order of first citation and lists them at the end."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.numbers: dict[str, int] = {}
        # Reasons from the core name the recommendation table by id ("in table
        # first-line.clear-cell.favorable"); a reader gets the setting instead.
        tables = sorted(kb.therapy_tables, key=lambda t: len(t.id), reverse=True)
        self.tables = [(t.id, table_setting(t)) for t in tables]

    def number(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            ids = [i for i in match.group(1).split(_SEP) if i]
            for source_id in ids:
                self.numbers.setdefault(source_id, len(self.numbers) + 1)
            return "[" + ", ".join(str(self.numbers[i]) for i in ids) + "]"

        return self.plain(display_units(_MARKER.sub(replace, text)))

    def plain(self, text: str) -> str:
        for table_id, setting in self.tables:
            if table_id in text:
                text = text.replace(f"table {table_id}", f"the {setting} recommendations")
                text = text.replace(table_id, setting)
        for category, words in _CATEGORY_WORDS.items():
            text = text.replace(category, words)
        return text

    def entries(self) -> list[str]:
        return [f"[{n}] {reference(self.kb.sources.get(i))}" for i, n in self.numbers.items()]


_CATEGORY_WORDS = {
    "as certain-circumstances in": "as useful in certain circumstances in",
    "as other in": "as other recommended in",
}


def table_setting(table: TherapyTable) -> str:
    """A recommendation table described by its setting, not by its id."""
    words = [
        f"{table.line}-line",
        ", ".join(h.replace("-", " ") for h in table.histologies),
        "IMDC " + "/".join(table.risk_groups) + " risk",
    ]
    if table.after_classes:
        words.append("after " + " or ".join(c.replace("-", " ") for c in table.after_classes))
    return ", ".join(words)


# The KB citations carry clinical-reference.md's own numbers ("[14] NCCN ..."); a
# report numbers its references itself, so that prefix would only confuse.
_KB_NUMBER = re.compile(r"^\[\w+\]\s*")


def reference(source: Source | None) -> str:
    """One reference-list entry: the citation as the KB holds it, and its link."""
    if source is None:
        return "Source not listed in this knowledge base version."
    text = _KB_NUMBER.sub("", source.citation).strip()
    if source.url and source.url not in text:
        text = f"{text} {source.url}"
    return text
