"""Issue 8 item 6: what a clinician reads holds no internal words.

Every example case file and every shared vignette is rendered to text and Markdown;
the output must not contain "seed", a rule or therapy-table id of the loaded knowledge
base, a raw UCUM power of ten, or a bracketed source id, and every citation [n] must
point into the numbered reference list at the end.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from rccnav.adapters.intake import assess_input, read_input
from rccnav.adapters.render.markdown import render_markdown
from rccnav.adapters.render.text import render_text
from rccnav.adapters.render.wording import display_units, review_note
from rccnav.knowledge.loader import default_knowledge_base

ROOT = Path(__file__).resolve().parents[2]
VIGNETTES = ROOT.parent.parent / "shared" / "vignettes"
if not VIGNETTES.is_dir():  # a worktree under /work/wt/<name>
    VIGNETTES = Path("/work/shared/vignettes")


def _cases() -> list[tuple[Path, date]]:
    cases = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        on = yaml.safe_load(path.read_text())["assessment_date"]
        cases.append((path, on if isinstance(on, date) else date.fromisoformat(str(on))))
    for path in sorted(VIGNETTES.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
        cases.append((path, date.fromisoformat(expected["on"])))
    return cases


CASES = _cases()


def _render(path: Path, on: date) -> dict[str, str]:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=on, kb=kb)
    assessment = assess_input(intake, kb, on)
    return {"text": render_text(assessment), "markdown": render_markdown(assessment)}


def _internal_words() -> list[str]:
    kb = default_knowledge_base()
    return sorted({*kb.rules, *(t.id for t in kb.therapy_tables)}, key=len, reverse=True)


def _references(output: str) -> tuple[set[int], list[int]]:
    """Numbers cited in the body, and the numbers listed under References (in order)."""
    plain = output.replace("\\[", "[").replace("\\]", "]")
    body, _, refs = plain.rpartition("References")
    assert body, "no References section"
    listed = [int(n) for n in re.findall(r"^\[(\d+)\] \S", refs, flags=re.MULTILINE)]
    body = " ".join(body.split())  # a citation list may wrap across lines
    groups = re.findall(r"\[(\d+(?:, \d+)*)\]", body)
    cited = {int(n) for group in groups for n in group.split(", ")}
    return cited, listed


def test_there_are_cases_to_check() -> None:
    assert len([c for c in CASES if c[0].suffix == ".yaml"]) >= 3
    assert len([c for c in CASES if c[0].suffix == ".json"]) >= 10


@pytest.mark.parametrize(("path", "on"), CASES, ids=[p.name for p, _ in CASES])
def test_reports_speak_to_clinicians(path: Path, on: date) -> None:
    kb = default_knowledge_base()
    ids = _internal_words()
    for kind, output in _render(path, on).items():
        lowered = output.lower()
        assert "seed" not in lowered, f"{kind}: 'seed' in output"
        leaked = [i for i in ids if re.search(rf"(?<![\w.-]){re.escape(i)}(?![\w-])", output)]
        assert not leaked, f"{kind}: rule/table ids in prose: {leaked}"
        assert "10*" not in output, f"{kind}: raw UCUM unit"
        assert "(rule " not in output
        plain = output.replace("\\[", "[").replace("\\]", "]")
        for bracket in re.findall(r"\[([^\]\n]*)\]", plain):
            words = {w.strip() for w in bracket.split(",")}
            assert not words & set(kb.sources), f"{kind}: source id in brackets [{bracket}]"
        cited, listed = _references(output)
        assert listed == list(range(1, len(listed) + 1)), f"{kind}: references not numbered 1..n"
        assert cited, f"{kind}: nothing cited"
        assert cited <= set(listed), f"{kind}: unresolved citations {cited - set(listed)}"
        assert set(listed) <= cited, f"{kind}: listed but never cited {set(listed) - cited}"


def test_reference_entries_carry_the_kb_citation_and_link() -> None:
    path, on = CASES[0]
    text = _render(path, on)["text"]
    kb = default_knowledge_base()
    refs = text.rpartition("References")[2]
    flat = " ".join(refs.split())
    linked = [s for s in kb.sources.values() if s.url and " ".join(s.url.split()) in flat]
    assert linked, "no DOI/PubMed/web link in the reference list"
    # The KB's own clinical-reference numbers ("[14] NCCN") are not repeated.
    assert not re.search(r"^\[\d+\] \[\w+\]", refs, flags=re.MULTILINE)


@pytest.mark.parametrize(
    ("ucum", "shown"),
    [
        ("4 10*9/L", "4 ×10⁹/L"),
        ("250 10*3/uL", "250 ×10³/µL"),
        ("5 10*12/L", "5 ×10¹²/L"),
        ("4000 /uL", "4000 /µL"),
        ("4000 /mm3", "4000 /mm³"),
        ("88 umol/L", "88 µmol/L"),
        ("13.1 g/dL", "13.1 g/dL"),
        ("220 [IU]/L", "220 IU/L"),
    ],
)
def test_display_units(ucum: str, shown: str) -> None:
    assert display_units(ucum) == shown


def test_review_status_in_clinical_words() -> None:
    assert "not yet checked" in review_note("unverified")
    assert "guidelines are silent" in review_note("design-choice")
    assert review_note(None) == ""
