"""The knowledge base as one document a clinician can review and sign off.

Every entry of every section is shown with all its fields, its sources (resolved to
their citations) and its review status, plus the version and content checksum the
sign-off applies to. The report walks the KnowledgeBase model's fields rather than
a hand-kept list, so a section added to the knowledge base appears here without
a code change (under its field name until it is given a title below).

Order: identity (version, checksum), the sign-off block, a review summary and the
worklist of unverified items, then the content in the order a clinician checks it
(rules first, the source list with its citations last). Unverified entries carry a
visible flag, not only a status word.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

from rccnav.knowledge.model import KnowledgeBase

Format = Literal["markdown", "html"]

SECTION_TITLES = {
    "rules": "Rules",
    "therapy_tables": "Recommendation tables",
    "regimens": "Regimens",
    "non_drug_options": "Non-drug options",
    "agents": "Agents",
    "contraindications": "Contraindications",
    "therapy_categories": "Ineffective and experimental therapy categories",
    "nonstandard_combinations": "Nonstandard combinations",
    "analytes": "Laboratory analytes",
    "default_limits": "Default reference limits",
    "survival": "Published survival by risk group",
    "monitoring": "Before treating: baseline checks and monitoring",
    "guideline_positions": "Guideline positions (NCCN, EAU, ESMO)",
    "sources": "Sources",
}
# Sections in SECTION_TITLES come in that order; any other section follows, sources last.
_LAST = "sources"
FLAGS = {
    "unverified": "UNVERIFIED: check against the primary source before clinical use",
    "design-choice": "design choice of rccnav, not guideline text",
}
# Not content to review: identity of the whole, or look-ups derived from other
# sections (``*_index``).
_SKIPPED = {"version", "checksum", "view_tables"}
_ENTRY_FIELDS_SHOWN_SEPARATELY = {"id", "status", "sources"}


@dataclass(frozen=True)
class Entry:
    title: str
    status: str | None
    fields: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ReportSection:
    key: str
    title: str
    entries: tuple[Entry, ...]


def _entries(value: Any) -> list[BaseModel]:
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, BaseModel)]
    if isinstance(value, tuple | list):
        return [v for v in value if isinstance(v, BaseModel)]
    return []


def _title(item: BaseModel, index: int) -> str:
    data = item.model_dump()
    if "id" in data:
        return str(data["id"])
    if {"model", "setting", "risk_group"} <= set(data):
        return f"{data['model']} / {data['setting']} / {data['risk_group']}"
    if {"analyte", "limit"} <= set(data):
        return f"{data['analyte']} {data['limit']} limit ({data.get('sex', 'any')})"
    return f"entry {index + 1}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k} = {_show(v)}" for k, v in value.items())
    if isinstance(value, tuple | list):
        return ", ".join(_show(v) for v in value)
    return str(value)


def _entry(item: BaseModel, index: int) -> Entry:
    data = item.model_dump(mode="json", by_alias=True)
    fields = tuple(
        (name, _show(value))
        for name, value in data.items()
        if name not in _ENTRY_FIELDS_SHOWN_SEPARATELY and value not in (None, "", [], {})
    )
    status = data.get("status")
    return Entry(_title(item, index), status, fields, tuple(data.get("sources") or ()))


def _ordered_keys(kb: KnowledgeBase) -> list[str]:
    keys = [
        key for key in type(kb).model_fields if key not in _SKIPPED and not key.endswith("_index")
    ]
    known = [key for key in SECTION_TITLES if key in keys and key != _LAST]
    others = [key for key in keys if key not in SECTION_TITLES]
    return [*known, *others, *([_LAST] if _LAST in keys else [])]


def _position_entries(kb: KnowledgeBase) -> tuple[Entry, ...]:
    """One entry per setting and option: the three guidelines' positions side by side."""
    entries = []
    placements = {
        (setting.setting, option_id): option.merged
        for setting in kb.guideline_positions.settings
        for option_id, option in setting.options.items()
    }
    for table_id, options in kb.position_index.items():
        for option_id, positions in options.items():
            fields = [
                (kb.guideline_name(p.body), f"{p.text} [{p.status.value}]") for p in positions
            ]
            merged = placements.get((table_id, option_id))
            if merged is not None:
                fields.append(("merged view", f"{merged.category}: {merged.why}"))
            statement = kb.disagreement_index.get(table_id, {}).get(option_id)
            if statement:
                fields.append(("disagreement", statement))
            statuses = {p.status.value for p in positions}
            status = "unverified" if "unverified" in statuses else "verified"
            sources = tuple(dict.fromkeys(s for p in positions for s in p.sources))
            entries.append(Entry(f"{table_id} / {option_id}", status, tuple(fields), sources))
    return tuple(entries)


def build_sections(kb: KnowledgeBase) -> list[ReportSection]:
    sections = []
    for key in _ordered_keys(kb):
        title = SECTION_TITLES.get(key, key.replace("_", " ").capitalize())
        if key == "guideline_positions":
            sections.append(ReportSection(key, title, _position_entries(kb)))
            continue
        items = _entries(getattr(kb, key))
        entries = tuple(_entry(item, index) for index, item in enumerate(items))
        sections.append(ReportSection(key, title, entries))
    return _with_citing_entries(sections)


def _with_citing_entries(sections: list[ReportSection]) -> list[ReportSection]:
    """Each source lists the entries that cite it, so a reviewer can check it once for all."""
    cited_by: dict[str, list[str]] = {}
    for section in sections:
        for entry in section.entries:
            for source_id in entry.sources:
                cited_by.setdefault(source_id, []).append(f"{section.title}: {entry.title}")
    out = []
    for section in sections:
        if section.key == "sources":
            entries = tuple(
                Entry(
                    e.title,
                    e.status,
                    (*e.fields, ("cited by", "; ".join(cited_by.get(e.title, ["(not cited)"])))),
                    e.sources,
                )
                for e in section.entries
            )
            section = ReportSection(section.key, section.title, entries)
        out.append(section)
    return out


def unverified_entries(sections: Iterable[ReportSection]) -> list[tuple[str, str]]:
    """(section title, entry title) of every entry still marked unverified."""
    return [
        (section.title, entry.title)
        for section in sections
        for entry in section.entries
        if entry.status == "unverified"
    ]


def status_counts(sections: Iterable[ReportSection]) -> dict[str, Counter[str]]:
    return {s.title: Counter(e.status or "n/a" for e in s.entries) for s in sections}


def _citation(kb: KnowledgeBase, source_id: str) -> str:
    source = kb.sources.get(source_id)
    return f"{source_id}: {source.citation}" if source else f"{source_id}: (unknown source)"


INTRO = (
    "This document lists the entire guideline content that rccnav reasons with. Each entry "
    "names its sources and its review status: *verified* (checked against its primary source), "
    "*unverified* (must be checked by a clinician before it drives a recommendation) or "
    "*design-choice* (a decision of the project, not a guideline statement). Sign-off applies "
    "to the version and content checksum below only; any change to the data files changes the "
    "checksum."
)


# ------------------------------------------------------------------- markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "\\<").replace(">", "\\>")


def _markdown(kb: KnowledgeBase, sections: list[ReportSection]) -> str:
    lines = [
        "# rccnav knowledge base: clinical review",
        "",
        f"- Version: **{kb.version}**",
        f"- Content checksum (SHA-256): `{kb.checksum}`",
        f"- Generated: {date.today().isoformat()}",
        "",
        INTRO,
        *_signoff_markdown(kb),
        "",
        "## Review status summary",
        "",
        "| section | entries | verified | unverified | design-choice | no status field |",
        "|---|---|---|---|---|---|",
    ]
    for title, counts in status_counts(sections).items():
        total = sum(counts.values())
        lines.append(
            f"| {title} | {total} | {counts['verified']} | {counts['unverified']} "
            f"| {counts['design-choice']} | {counts['n/a']} |"
        )
    pending = unverified_entries(sections)
    lines += ["", f"## Items awaiting verification ({len(pending)})", ""]
    lines += [f"- {_md(section)}: {_md(title)}" for section, title in pending] or ["None."]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if not section.entries:
            lines.append("No entries.")
        for entry in section.entries:
            status = f" — review status: **{entry.status}**" if entry.status else ""
            flag = f" ⚠ **{FLAGS[entry.status]}**" if entry.status == "unverified" else ""
            lines += [f"### {_md(entry.title)}{status}{flag}", ""]
            if entry.status == "design-choice":
                lines += [f"> {FLAGS['design-choice']}", ""]
            lines += [f"- **{name}**: {_md(value)}" for name, value in entry.fields]
            if entry.sources:
                lines.append("- **sources**:")
                lines += [f"  - {_md(_citation(kb, s))}" for s in entry.sources]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _signoff_markdown(kb: KnowledgeBase) -> list[str]:
    return [
        "",
        "## Sign-off",
        "",
        f"I have reviewed knowledge base version {kb.version}, content checksum",
        f"`{kb.checksum}`, entry by entry below, including every item marked unverified.",
        "",
        "| role | name | date | signature |",
        "|---|---|---|---|",
        "| Reviewing clinician |  |  |  |",
        "| Second reviewer |  |  |  |",
    ]


# ----------------------------------------------------------------------- html


def _h(text: str) -> str:
    return html.escape(text, quote=True)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.4}table{border-collapse:collapse}"
    "td,th{border:1px solid #999;padding:.25rem .5rem}"
    ".unverified{background:#fff3cd}.verified{background:#e7f5e7}.design-choice{background:#e8eefc}"
    "dt{font-weight:bold}dd{margin:0 0 .4rem 1.5rem}.flag{font-size:.8em;color:#8a4b00}"
    "@media print{h2{page-break-before:always}}"
)


def _html(kb: KnowledgeBase, sections: list[ReportSection]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rccnav knowledge base {_h(kb.version)}: clinical review</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>rccnav knowledge base: clinical review</h1>",
        f"<p>Version <strong>{_h(kb.version)}</strong>; content checksum (SHA-256) "
        f"<code>{_h(kb.checksum)}</code>; generated {date.today().isoformat()}.</p>",
        f"<p>{_h(INTRO).replace('*', '')}</p>",
        "<h2>Sign-off</h2>",
        f"<p>I have reviewed knowledge base version {_h(kb.version)}, content checksum "
        f"<code>{_h(kb.checksum)}</code>, entry by entry below, including every item marked "
        "unverified.</p>",
        "<table><tr><th>role</th><th>name</th><th>date</th><th>signature</th></tr>",
        "<tr><td>Reviewing clinician</td><td></td><td></td><td></td></tr>",
        "<tr><td>Second reviewer</td><td></td><td></td><td></td></tr></table>",
        "<h2>Review status summary</h2><table><tr><th>section</th><th>entries</th>"
        "<th>verified</th><th>unverified</th><th>design-choice</th><th>no status field</th></tr>",
    ]
    for title, counts in status_counts(sections).items():
        out.append(
            f"<tr><td>{_h(title)}</td><td>{sum(counts.values())}</td><td>{counts['verified']}</td>"
            f"<td>{counts['unverified']}</td><td>{counts['design-choice']}</td>"
            f"<td>{counts['n/a']}</td></tr>"
        )
    out.append("</table>")
    pending = unverified_entries(sections)
    out.append(f"<h2>Items awaiting verification ({len(pending)})</h2>")
    items = "".join(f"<li>{_h(section)}: {_h(title)}</li>" for section, title in pending)
    out.append(f"<ul>{items}</ul>" if items else "<p>None.</p>")
    for section in sections:
        out.append(f'<h2 id="{_h(section.key)}">{_h(section.title)}</h2>')
        if not section.entries:
            out.append("<p>No entries.</p>")
        for entry in section.entries:
            css = f' class="{_h(entry.status)}"' if entry.status else ""
            status = f" — review status: {_h(entry.status)}" if entry.status else ""
            flag = (
                f' <span class="flag">⚠ {_h(FLAGS[entry.status])}</span>'
                if entry.status in FLAGS
                else ""
            )
            out.append(f"<h3{css}>{_h(entry.title)}{status}{flag}</h3><dl>")
            out += [f"<dt>{_h(n)}</dt><dd>{_h(v)}</dd>" for n, v in entry.fields]
            if entry.sources:
                items = "".join(f"<li>{_h(_citation(kb, s))}</li>" for s in entry.sources)
                out.append(f"<dt>sources</dt><dd><ul>{items}</ul></dd>")
            out.append("</dl>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render_report(kb: KnowledgeBase, fmt: Format | str = "markdown") -> str:
    """The review document in ``markdown`` or ``html``."""
    sections = build_sections(kb)
    if fmt == "html":
        return _html(kb, sections)
    if fmt == "markdown":
        return _markdown(kb, sections)
    raise ValueError(f"unknown report format {fmt!r}: use markdown or html")
