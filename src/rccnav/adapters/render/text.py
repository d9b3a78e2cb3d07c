"""Plain-text assessment for a terminal or a printout: 100 columns, colour only on a TTY."""

from __future__ import annotations

import re
import textwrap

from rccnav.adapters.render.document import Item, Section, Table, build_document, with_references
from rccnav.core.assessment import Assessment

WIDTH = 100
_BOLD, _RED, _RESET = "\033[1m", "\033[31m", "\033[0m"


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def bold(self, text: str) -> str:
        return f"{_BOLD}{text}{_RESET}" if self.color and text else text

    def alarm(self, text: str) -> str:
        return f"{_BOLD}{_RED}{text}{_RESET}" if self.color and text else text


# The whitespace textwrap turns into spaces (and tabs it expands) besides the space.
_WRAP_WHITESPACE = frozenset("\t\n\x0b\x0c\r")
_SPACES = re.compile(r"( +)")


def _wrap(text: str, indent: str, hang: str) -> list[str]:
    if _WRAP_WHITESPACE.isdisjoint(text):
        lines = _wrap_spaced(text, indent, hang)
        if lines is not None:
            return lines
    # break_on_hyphens=False keeps regimen ids such as "axitinib+pembrolizumab" whole;
    # a word (a reference's URL) is split only if it could not fit on a line of its own.
    longest = max(map(len, text.split()), default=0)
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hang,
        break_on_hyphens=False,
        break_long_words=longest > WIDTH - len(hang),
    ) or [indent.rstrip()]


def _wrap_spaced(text: str, indent: str, hang: str) -> list[str] | None:
    """What the ``textwrap.wrap`` call above gives for text whose only whitespace is
    the space, at a fraction of its cost (a report wraps some 250 lines), or None
    when a word or run of spaces is too long for a line (textwrap then decides).

    The same greedy rule: words (runs of non-spaces) and runs of spaces fill a line
    while they fit; a line after the first drops the run of spaces it starts with;
    every line drops the run it ends with; a text that leaves no line gives none.
    """
    if len(indent) + len(text) <= WIDTH:  # the common short line: kept whole
        kept = text.rstrip(" ")
        return [indent + kept] if kept else [indent.rstrip()]
    chunks = [chunk for chunk in _SPACES.split(text) if chunk]
    if max(map(len, chunks)) > WIDTH - max(len(indent), len(hang)):
        return None
    lines: list[str] = []
    at, count = 0, len(chunks)
    while at < count:
        lead = hang if lines else indent
        room = WIDTH - len(lead)
        if lines and chunks[at][0] == " ":
            at += 1
        start, used = at, 0
        while at < count and used + len(chunks[at]) <= room:
            used += len(chunks[at])
            at += 1
        end = at - 1 if at > start and chunks[at - 1][0] == " " else at
        if end > start:
            lines.append(lead + "".join(chunks[start:end]))
    return lines or [indent.rstrip()]


def _item(item: Item, indent: str, style: _Style) -> list[str]:
    lead = f"{item.lead}: " if item.lead and item.text else item.lead
    lines = _wrap(f"{lead}{item.text}", f"{indent}- ", f"{indent}  ")
    if item.emphasis and lines:
        first = lines[0]
        marker = len(indent) + 2
        styled = style.alarm if "CRITICAL" in first or "EMERGENCY" in first else style.bold
        lines[0] = first[:marker] + styled(first[marker:])
    for detail in item.details:
        lines.extend(_wrap(detail, f"{indent}    ", f"{indent}      "))
    return lines


def _table(table: Table, indent: str) -> list[str]:
    """All columns but the last padded; the last one wraps under itself."""
    widths = [
        max(len(row[i]) for row in (table.headers, *table.rows))
        for i in range(len(table.headers) - 1)
    ]
    lines = []
    for row in (table.headers, *table.rows):
        fixed = "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False))
        prefix = f"{indent}{fixed}  "
        lines.extend(_wrap(row[-1], prefix, " " * len(prefix)))
    return lines


def _section(section: Section, style: _Style, indent: str = "") -> list[str]:
    underline = "=" if section.level <= 2 else "-"
    lines = [
        "",
        style.bold(f"{indent}{section.title}"),
        f"{indent}{underline * len(section.title)}",
    ]
    for block in section.blocks:
        if isinstance(block, Section):
            lines.extend(_section(block, style, indent))
        elif isinstance(block, Item):
            lines.extend(_item(block, indent, style))
        elif isinstance(block, Table):
            lines.extend(_table(block, indent))
        else:
            lines.extend(_wrap(block, indent, indent))
    return lines


def render_text(assessment: Assessment, *, color: bool = False) -> str:
    title, sections = build_document(assessment)
    return render_sections(title, sections, color=color)


def render_sections(title: str, sections: list[Section], *, color: bool = False) -> str:
    style = _Style(color)
    lines = [style.bold(title), "#" * len(title)]
    # Sections built outside build_document (the risk command) still get numbered
    # references; for build_document's output this finds nothing left to number.
    for section in with_references(sections):
        lines.extend(_section(section, style))
    return "\n".join(lines) + "\n"
