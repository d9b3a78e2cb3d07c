"""WCAG AA basics checked without a browser: text colours' contrast, labels in the markup."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rccnav.adapters.web.views import static_text

AA_TEXT = 4.5  # WCAG 2.1 SC 1.4.3, normal-size text


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _variables() -> dict[str, str]:
    css = static_text("web.css")
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))


def test_every_text_colour_meets_aa_on_white_and_on_the_soft_background() -> None:
    colours = _variables()
    for name in ("ink", "muted", "accent", "critical", "warning", "info", "ok"):
        assert _contrast(colours[name], "#ffffff") >= AA_TEXT, name
        assert _contrast(colours[name], colours["bg-soft"]) >= AA_TEXT, name


def test_badges_white_text_meets_aa() -> None:
    colours = _variables()
    for name in ("critical", "warning", "info"):
        assert _contrast("#ffffff", colours[name]) >= AA_TEXT, name


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids_with_label: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.in_label = 0
        self.wrapped: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if found.get("for"):
                self.ids_with_label.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)
            if self.in_label:
                self.wrapped.append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def test_every_visible_control_has_a_label(kb) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from rccnav.adapters.web.views import Views
    from rccnav.core.assess import assess
    from rccnav.core.case import Case

    html = Views(kb).page(assess(Case(), kb, date(2026, 1, 1)), date(2026, 1, 1))
    parser = _Controls()
    parser.feed(html)
    assert len(parser.controls) > 100
    unlabelled = [
        c
        for c in parser.controls
        if c not in parser.wrapped and c.get("id") not in parser.ids_with_label
    ]
    assert unlabelled == []
