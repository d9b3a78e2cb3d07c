"""The report's fast paths give exactly what the general code gives.

Line wrapping skips ``textwrap`` for text whose only whitespace is the space, and the
unit and field-name rewrites run their patterns only where the text can match them
(start-up work: a report wraps and rewrites a few hundred lines). Each is checked here
against the general code on generated text, so an output can never change by taking
the fast path.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rccnav.adapters.render import text as text_render
from rccnav.adapters.render import wording
from rccnav.knowledge.loader import default_knowledge_base

WIDTH = text_render.WIDTH


def _textwrap(text: str, indent: str, hang: str) -> list[str]:
    """The general rule the report wraps by (textwrap, as before the fast path)."""
    longest = max((len(word) for word in text.split()), default=0)
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=hang,
        break_on_hyphens=False,
        break_long_words=longest > WIDTH - len(hang),
    ) or [indent.rstrip()]


# Words of every length around a line's width, runs of one or more spaces, hyphens and
# "+" (textwrap must not break at them here), non-ASCII letters and the whitespace
# textwrap treats specially (tab, newline, NBSP which it does not treat as a space).
_WORD = st.one_of(
    st.text(alphabet="abcµé-+/.", min_size=1, max_size=12),
    st.integers(min_value=1, max_value=130).map(lambda n: "x" * n),
)
_GAP = st.sampled_from([" ", " ", " ", "  ", " " * 5, "\t", "\n", "\xa0", " " * 120])
_TEXT = st.lists(st.tuples(_GAP, _WORD), max_size=40).map(
    lambda parts: "".join(gap + word for gap, word in parts)
)
_INDENT = st.sampled_from(["", "- ", "  - ", "    ", "      ", " " * 40])


@settings(max_examples=600)
@given(text=st.one_of(_TEXT, _TEXT.map(str.strip)), indent=_INDENT, hang=_INDENT)
# A word ending exactly at the width: the next line must not start with the space.
@example(text="a" * 98 + " b", indent="- ", hang="  ")
@example(text="a" * 98 + "   b c  ", indent="- ", hang="  ")
@example(text="   ", indent="- ", hang="  ")
@example(text="", indent="  - ", hang="    ")
def test_wrapping_equals_textwrap(text: str, indent: str, hang: str) -> None:
    assert text_render._wrap(text, indent, hang) == _textwrap(text, indent, hang)


def test_wrapping_takes_the_fast_path_for_ordinary_lines() -> None:
    # The property above would hold trivially if the fast path were never taken.
    sentence = "Pembrolizumab + axitinib is preferred in first line for IMDC intermediate risk. "
    lines = text_render._wrap_spaced(sentence * 4, "- ", "  ")
    assert lines is not None and len(lines) == 4
    assert lines == _textwrap(sentence * 4, "- ", "  ")
    assert text_render._wrap_spaced("x" * 99, "- ", "  ") is None  # a word too long: textwrap


def _display_units_everywhere(text: str) -> str:
    """display_units with every pattern applied to every text (no guards)."""
    text = wording._POWER.sub(lambda m: "×10" + m.group(1).translate(wording._SUPERSCRIPT), text)
    text = wording._MICRO.sub("µ", text)
    text = wording._CUBED.sub(r"\1³", text)
    return wording._ANNOTATION.sub(r"\1", text)


_UNITY = st.lists(
    st.sampled_from(
        ["10*9/L", "10*-3", "x10*3", "uL", "umol/L", "ug", "uIU/mL", "ukat", "mm3", "cm3",
         "[IU]", "[iU]", "[[IU]]", "u", "mu", "10*", "m3", " ", "/", ".", "_", "+", "Hb ",
         "labs.platelets", "prior_therapies[0]", "calcium_total", "a+b"]
    ),
    max_size=12,
).map("".join)  # fmt: skip


@given(text=_UNITY)
def test_unit_display_equals_every_pattern_applied(text: str) -> None:
    assert wording.display_units(text) == _display_units_everywhere(text)


def _plain_words_everywhere(text: str, kb: Any) -> str:
    for table_id, setting in wording._tables(kb):
        if table_id in text:
            text = text.replace(f"table {table_id}", f"the {setting} recommendations")
            text = text.replace(table_id, setting)
    for category, words in wording._CATEGORY_WORDS.items():
        text = text.replace(category, words)
    text = wording._FIELD_PATH.sub(lambda m: wording.field_label(m.group(0), kb), text)
    text = wording._SNAKE.sub(lambda m: wording._snake_words(m.group(0), kb), text)
    return wording._REGIMEN_ID.sub(lambda m: wording.regimen_name(m.group(0), kb), text)


_FIELDS = st.lists(
    st.sampled_from(
        ["labs.platelets", "labs.calcium_total", "comorbidities.gi_perforation_risk",
         "prior_therapies[1]", "prior_therapies", "proposed_therapy.agents", "primary_tumour",
         "diagnosis.date", "disease.metastases[0].site", "performance.kps", "germline.tested",
         "labs", "disease", "Observation/abc.1", "x.labs.y", "calcium_total", "a_b",
         "ipilimumab+nivolumab", " ", ". ", "[", "]", "1", "-", "/"]
    ),
    max_size=10,
).map("".join)  # fmt: skip


@given(text=_FIELDS)
def test_clinical_wording_equals_every_pattern_applied(text: str) -> None:
    kb = default_knowledge_base()
    assert wording.plain_words(text, kb) == _plain_words_everywhere(text, kb)


def test_the_guards_name_what_their_patterns_need() -> None:
    # Each guard is a substring every match of its pattern contains.
    assert set(wording._SECTION_NAMES) == set(re.findall(r"[a-z_]+", wording._SECTIONS))
    for unit in wording._MICRO_UNITS:
        assert wording._MICRO.search(unit)
