"""Clinician wording for rendered reports: numbered references, review notes, display units.

The core speaks in knowledge-base ids and UCUM codes because machines read the JSON;
a clinician reading text or Markdown should see a numbered reference list, review
status in plain words, and units as printed on a lab report (x10^9/L, not 10*9/L).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

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
_MICRO_UNITS = ("uL", "umol", "ug", "uIU", "ukat")  # what _MICRO needs to find a match
_CUBED = re.compile(r"(?<![A-Za-z])([cm]m)3\b")
_ANNOTATION = re.compile(r"\[(IU|iU)\]")


def display_units(text: str) -> str:
    """UCUM codes as a clinician reads them: 10*9/L -> ×10⁹/L, 10*3/uL -> ×10³/µL."""
    # Each pattern runs only where the text holds what it must match (a report passes
    # every line through here, twice, and most lines hold no unit at all).
    if "10*" in text:
        text = _POWER.sub(lambda m: "×10" + m.group(1).translate(_SUPERSCRIPT), text)
    if any(unit in text for unit in _MICRO_UNITS):
        text = _MICRO.sub("µ", text)
    if "m3" in text:
        text = _CUBED.sub(r"\1³", text)
    if "U]" in text:
        text = _ANNOTATION.sub(r"\1", text)
    return text


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
        if _OPEN in text:
            text = _MARKER.sub(self._numbered, text)
        return self.plain(display_units(text))

    def _numbered(self, match: re.Match[str]) -> str:
        ids = [i for i in match.group(1).split(_SEP) if i]
        for source_id in ids:
            self.numbers.setdefault(source_id, len(self.numbers) + 1)
        return "[" + ", ".join(str(self.numbers[i]) for i in ids) + "]"

    def plain(self, text: str) -> str:
        return plain_words(text, self.kb, self.tables)

    def entries(self) -> list[str]:
        return [f"[{n}] {reference(self.kb.sources.get(i))}" for i, n in self.numbers.items()]


def plain_words(text: str, kb: KnowledgeBase, tables: list[tuple[str, str]] | None = None) -> str:
    """Prose without the knowledge base's or the case file's internal names: a
    recommendation table by its setting, a case-file field ("labs.platelets",
    "comorbidities.gi_perforation_risk") and an analyte id ("calcium_total") by what
    a clinician calls them."""
    for table_id, setting in tables if tables is not None else _tables(kb):
        if table_id in text:
            text = text.replace(f"table {table_id}", f"the {setting} recommendations")
            text = text.replace(table_id, setting)
    for category, words in _CATEGORY_WORDS.items():
        text = text.replace(category, words)
    if ("." in text or "[" in text or "_" in text) and any(s in text for s in _SECTION_NAMES):
        text = _FIELD_PATH.sub(lambda m: field_label(m.group(0), kb), text)
    if "_" in text:
        text = _SNAKE.sub(lambda m: _snake_words(m.group(0), kb), text)
    if "+" in text:
        text = _REGIMEN_ID.sub(lambda m: regimen_name(m.group(0), kb), text)
    return text


# A regimen id in prose ("ipilimumab+nivolumab started ..."): agents joined by "+"
# without spaces, which no clinical name uses.
_REGIMEN_ID = re.compile(r"(?<![\w/.-])[a-z][a-z0-9-]*(?:\+[a-z][a-z0-9-]*)+(?![\w/-])")


def _tables(kb: KnowledgeBase) -> list[tuple[str, str]]:
    tables = sorted(kb.therapy_tables, key=lambda t: len(t.id), reverse=True)
    return [(t.id, table_setting(t)) for t in tables]


# A case-file field path in prose: a section with at least one ".field" or "[n]" step
# (bare "disease" or "performance" are ordinary words), or a section spelt with "_".
_SECTIONS = (
    "labs|comorbidities|disease|diagnosis|primary_tumour|germline|performance"
    "|prior_therapies|proposed_therapy"
)
_SECTION_NAMES = tuple(_SECTIONS.split("|"))  # a field path holds one of them
_FIELD_PATH = re.compile(
    rf"(?<![\w./:-])(?:(?:{_SECTIONS})(?:\.[a-z][a-z0-9_]*|\[\d+\])+"
    r"|prior_therapies|proposed_therapy|primary_tumour)(?![\w/-])"
)
_SNAKE = re.compile(r"(?<![\w./:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-])")

_SECTION_WORDS = {
    "labs": "",
    "comorbidities": "",
    "disease": "",
    "diagnosis": "diagnosis",
    "primary_tumour": "primary tumour",
    "germline": "germline",
    "performance": "performance status",
    "prior_therapies": "prior therapy",
    "proposed_therapy": "proposed therapy",
    "metastases": "metastatic site",
}

# Field names whose plain spelling would read oddly.
_FIELD_WORDS = {
    "corticosteroid_prednisone_mg_per_day": "corticosteroid dose (prednisone mg/day)",
    "systemic_steroids_over_10mg": "systemic steroids above 10 mg/day prednisone",
    "gi_perforation_risk": "GI perforation risk",
    "immune_related_adverse_events": "immune-related adverse events",
    "prior_severe_immune_related_adverse_event": "prior severe immune-related adverse event",
    "no_evidence_of_disease": "no evidence of disease",
    "ldh": "LDH",
    "date": "date",
}


def _snake_words(word: str, kb: KnowledgeBase) -> str:
    analyte = kb.analytes.get(word)
    if analyte is not None:
        return analyte.name
    return _FIELD_WORDS.get(word, word.replace("_", " "))


def field_label(path: str, kb: KnowledgeBase) -> str:
    """A case-file field path in a clinician's words: labs.neutrophils -> absolute
    neutrophil count; prior_therapies[1] -> prior therapy 2; comorbidities.pregnancy ->
    pregnancy. A FHIR reference ("Observation/abc") is a pointer into the record and is
    returned as it is."""
    if "/" in path:
        return path
    words: list[str] = []
    for step in re.findall(r"[a-z][a-z0-9_]*|\[\d+\]", path):
        if step.startswith("["):
            words.append(str(int(step[1:-1]) + 1))
        elif not words and step in _SECTION_WORDS:
            if _SECTION_WORDS[step]:
                words.append(_SECTION_WORDS[step])
        elif step in _SECTION_WORDS and step == "metastases":
            words.append(_SECTION_WORDS[step])
        else:
            words.append(_snake_words(step, kb))
    return " ".join(words) or path.replace("_", " ")


# What a prognostic factor is read from, for a FHIR source (the resource id says where,
# not what).
_FACTOR_READINGS = {
    "performance_status": "performance status",
    "time_to_treatment": "diagnosis date",
    "hemoglobin": "haemoglobin",
    "calcium": "calcium",
    "neutrophils": "neutrophil count",
    "platelets": "platelet count",
    "ldh": "LDH",
}


def provenance(factor: str, source: str | None, observed_on: date | None, kb: KnowledgeBase) -> str:
    """Where a factor's value came from, in clinical words: "neutrophil count,
    2026-11-02"; "total calcium and albumin, 2026-10-28". FHIR resource ids stay in
    the JSON output."""
    if not source:
        return ""
    parts = [p.strip() for p in re.split(r" \+ |, ", source) if p.strip()]
    labels: list[str] = []
    from_record = [p for p in parts if "/" in p]
    for part in parts:
        if "/" not in part:
            labels.append(field_label(part, kb))
    if from_record:
        name = _FACTOR_READINGS.get(factor, factor.replace("_", " "))
        entries = f" ({len(from_record)} record entries)" if len(from_record) > 1 else ""
        labels.append(f"{name}{entries}")
    shown = " and ".join(dict.fromkeys(labels))
    return f"{shown}, {observed_on.isoformat()}" if observed_on else shown


def regimen_name(regimen: str, kb: KnowledgeBase) -> str:
    """An option's clinical name; an id the knowledge base does not know, in words."""
    known = kb.regimens.get(regimen) or kb.non_drug_options.get(regimen)
    if known is not None:
        return known.name
    return regimen.replace("+", " + ").replace("-", " ")


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
