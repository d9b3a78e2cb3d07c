"""Markdown assessment, for a tumour-board note or a ticket."""

from __future__ import annotations

import re

from rccnav.adapters.render.document import Item, Section, Table, build_document
from rccnav.core.assessment import Assessment

# CommonMark lets a backslash escape any ASCII punctuation; these are the characters
# that could start markup (or raw HTML) when case data reaches a rendered page.
_SPECIAL = re.compile(r"([\\`*<>|\[\]])")


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _item(item: Item) -> list[str]:
    lead = f"**{escape(item.lead)}**" if item.lead else ""
    text = escape(item.text)
    if item.emphasis and text and not lead:
        text = f"**{text}**"
    body = f"{lead}: {text}" if lead and text else lead or text
    lines = [f"- {body}"]
    lines.extend(f"  - {escape(detail)}" for detail in item.details)
    return lines


def _table(table: Table) -> list[str]:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(escape(c) for c in cells) + " |"

    return [row(table.headers), "|" + "---|" * len(table.headers), *(row(r) for r in table.rows)]


def _section(section: Section) -> list[str]:
    lines = ["", f"{'#' * section.level} {escape(section.title)}", ""]
    previous: str | None = None
    for block in section.blocks:
        kind = type(block).__name__
        if previous is not None and (kind != previous or kind != "Item"):
            lines.append("")  # blank line between different blocks keeps lists apart
        if isinstance(block, Section):
            lines.extend(_section(block))
        elif isinstance(block, Item):
            lines.extend(_item(block))
        elif isinstance(block, Table):
            lines.extend(_table(block))
        else:
            lines.append(escape(block))
        previous = kind
    return lines


def render_markdown(assessment: Assessment) -> str:
    title, sections = build_document(assessment)
    lines = [f"# {escape(title)}"]
    for section in sections:
        lines.extend(_section(section))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
