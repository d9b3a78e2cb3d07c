"""Issue 8 item 6: what a clinician reads holds no internal words.

Every example case file, every shared vignette and every clinical vignette under
tests/vignettes/cases is rendered to each clinician-facing output: text, Markdown, the
web page's results, the tumour-board summary and the standalone HTML report, the CDS
Hooks cards, and the FHIR narrative. None may contain "seed", a rule or therapy-table
id of the loaded knowledge base, a raw UCUM power of ten, a bracketed source id, a
case-file field path ("labs.neutrophils", "(source: ...)"), a snake_case name, or a
regimen id ("axitinib+pembrolizumab": the clinical name is "pembrolizumab + axitinib").
Text, Markdown and HTML end with a numbered reference list that every citation [n]
points into, with the DOI/PubMed/web link the knowledge base holds. JSON keeps the ids.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

import rccnav
from rccnav import Case
from rccnav.adapters.fhir.writer import assessment_to_bundle
from rccnav.adapters.intake import assess_input, read_input
from rccnav.adapters.render.markdown import render_markdown
from rccnav.adapters.render.text import render_text
from rccnav.adapters.render.wording import display_units, field_label, provenance, review_note
from rccnav.adapters.service.cards import patient_view_cards
from rccnav.adapters.web.views import Views
from rccnav.core.assessment import Assessment
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
CLINICAL_VIGNETTES = sorted((ROOT / "tests" / "vignettes" / "cases").glob("*.yaml"))


def _assess(path: Path, on: date) -> Assessment:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=on, kb=kb)
    return assess_input(intake, kb, on)


def _render(path: Path, on: date) -> dict[str, str]:
    assessment = _assess(path, on)
    return {"text": render_text(assessment), "markdown": render_markdown(assessment)}


def _vignette_assessment(path: Path) -> Assessment:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    expected = document.pop("expected")
    document.pop("xfail_reason", None)
    return rccnav.assess(Case.model_validate(document), default_knowledge_base(), expected["on"])


def _html_text(html: str) -> str:
    """What a reader sees of an HTML page: no tags, attributes, styles or entities."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.DOTALL)
    text = re.sub(r"<[^>]+>", " ", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&#39;", "'"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def _every_output(assessment: Assessment) -> dict[str, str]:
    """Every clinician-facing rendering of one assessment, as the reader sees it."""
    kb = default_knowledge_base()
    views = Views(kb)
    cards = patient_view_cards(kb, assessment)
    bundle = assessment_to_bundle(assessment)
    narratives = [
        entry["resource"]["text"]["div"] for entry in bundle["entry"] if "text" in entry["resource"]
    ]
    return {
        "text": render_text(assessment),
        "markdown": render_markdown(assessment).replace("\\", ""),
        "web page": _html_text(views.results(assessment)),
        "summary": _html_text(views.summary(assessment, date(2026, 12, 1))),
        "report": _html_text(views.report(assessment, date(2026, 12, 1))),
        "cards": "\n".join(f"{c.card.summary}\n{c.card.detail or ''}" for c in cards).replace(
            "\\", ""
        ),
        "FHIR narrative": _html_text("\n".join(narratives)),
    }


_URL = re.compile(r"https?://[^\s)>\]]+")
_FIELD_PATH = re.compile(
    r"(?<![\w/.-])(?:labs|comorbidities|disease|diagnosis|primary_tumour|germline|performance"
    r"|prior_therapies|proposed_therapy)(?:\.[a-z_]+|\[\d+\])+"
)
_SNAKE = re.compile(r"(?<![\w/.:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def internal_words(output: str) -> list[str]:
    """Every internal name a clinician should not read in this output (URLs aside)."""
    kb = default_knowledge_base()
    prose = _URL.sub(" ", output)
    found = [f"id {i}" for i in _internal_words() if _id_in(i, prose)]
    found += [f"regimen id {r}" for r in kb.regimens if "+" in r and _id_in(r, prose)]
    found += [f"field {m}" for m in _FIELD_PATH.findall(prose)]
    found += [f"name {m}" for m in _SNAKE.findall(prose)]
    found += [f"'{w}'" for w in ("(source:", "(rule ", "10*") if w in prose]
    found += ["'seed'"] if re.search(r"\bseed", prose, flags=re.IGNORECASE) else []
    return found


def _id_in(identifier: str, prose: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(identifier)}(?![\w+-])", prose) is not None


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


def test_the_scanner_finds_what_it_must() -> None:
    """The scan would fail on each kind of internal word it is meant to catch."""
    samples = {
        "pembrolizumab + axitinib (source: labs.neutrophils)": [
            "field labs.neutrophils",
            "'(source:'",
        ],
        "- axitinib+pembrolizumab: pembrolizumab + axitinib": ["regimen id axitinib+pembrolizumab"],
        "calcium_total from 2026-11-01 is older": ["name calcium_total"],
        "listed in first-line.clear-cell.favorable": ["id first-line.clear-cell.favorable"],
        "about: comorbidities.gi_perforation_risk": ["field comorbidities.gi_perforation_risk"],
        "4.2 10*9/L": ["'10*'"],
        "the seed criterion": ["'seed'"],
    }
    for sample, expected in samples.items():
        found = internal_words(sample)
        assert all(e in found for e in expected), (sample, found)
    clean = "pembrolizumab + axitinib (neutrophil count, 2026-11-02) https://x.org/a_b/c+d"
    assert internal_words(clean) == []


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


@pytest.mark.parametrize(("path", "on"), CASES, ids=[p.name for p, _ in CASES])
def test_every_output_speaks_to_clinicians(path: Path, on: date) -> None:
    for kind, output in _every_output(_assess(path, on)).items():
        assert not internal_words(output), f"{kind}: {internal_words(output)}"


@pytest.mark.parametrize("path", CLINICAL_VIGNETTES, ids=[p.stem for p in CLINICAL_VIGNETTES])
def test_every_output_of_every_clinical_vignette_speaks_to_clinicians(path: Path) -> None:
    for kind, output in _every_output(_vignette_assessment(path)).items():
        assert not internal_words(output), f"{kind}: {internal_words(output)}"


def _html_references(html: str) -> tuple[set[int], dict[int, str]]:
    """Numbers cited in an HTML page's body, and the listed references by number."""
    body, _, refs = html.rpartition('<ol class="references">')
    assert refs, "no numbered reference list"
    # Linked marks, and the plain [n] of the survival chart's SVG captions.
    cited = {int(n) for n in re.findall(r'href="#ref-(\d+)"', body)}
    cited |= {int(n) for n in re.findall(r"\[(\d+)\]", _html_text(body))}
    listed = {
        int(n): entry
        for n, entry in re.findall(r'<li id="ref-(\d+)" value="\d+">(.*?)</li>', refs, re.DOTALL)
    }
    return cited, listed


@pytest.mark.parametrize(("path", "on"), CASES, ids=[p.name for p, _ in CASES])
def test_html_outputs_end_with_a_numbered_reference_list_with_links(path: Path, on: date) -> None:
    kb = default_knowledge_base()
    assessment = _assess(path, on)
    views = Views(kb)
    pages = {
        "web page": views.results(assessment),
        "report": views.report(assessment, date(2026, 12, 1)),
    }
    by_citation = {
        " ".join(re.sub(r"^\[\w+\]\s*", "", s.citation).split()): s for s in kb.sources.values()
    }
    for kind, html in pages.items():
        cited, listed = _html_references(html)
        assert cited, f"{kind}: nothing cited"
        assert sorted(listed) == list(range(1, len(listed) + 1)), f"{kind}: not numbered 1..n"
        assert cited == set(listed), f"{kind}: cited {sorted(cited)} but listed {sorted(listed)}"
        assert html.rindex('<ol class="references">') > html.rindex('href="#ref-'), (
            f"{kind}: the reference list is not at the end"
        )
        for number, entry in listed.items():
            citation = " ".join(_html_text(entry.split("<a ")[0]).split())
            source = by_citation.get(citation)
            assert source is not None, f"{kind}: [{number}] is not a KB citation: {citation!r}"
            if source.url:
                link = source.url.replace("&", "&amp;")
                assert f'href="{link}"' in entry, f"{kind}: [{number}] lacks its link"


def test_option_bullets_lead_with_the_clinical_name() -> None:
    path, on = next(c for c in CASES if c[0].name == "intermediate-risk-clear-cell.yaml")
    assessment = _assess(path, on)
    text = render_text(assessment)
    kb = default_knowledge_base()
    for regimen in assessment.systemic_therapy.preferred:
        name = kb.regimens[regimen].name
        assert re.search(rf"^- {re.escape(name)}$", text, flags=re.MULTILINE), name
    assert not re.search(r"^- [a-z0-9+-]+: ", text, flags=re.MULTILINE)


def test_factor_evidence_names_what_it_was_read_from_and_when() -> None:
    kb = default_knowledge_base()
    assert provenance("neutrophils", "labs.neutrophils", date(2026, 11, 2), kb) == (
        f"{kb.analytes['neutrophils'].name}, 2026-11-02"
    )
    assert provenance("calcium", "labs.calcium_total + labs.albumin", None, kb) == (
        "total calcium and albumin"
    )
    # A FHIR source is named by what it measured; its resource id stays in the JSON.
    fhir = provenance("platelets", "Observation/abc", date(2026, 11, 2), kb)
    assert fhir == "platelet count, 2026-11-02"
    assert field_label("prior_therapies[1]", kb) == "prior therapy 2"
    assert field_label("comorbidities.gi_perforation_risk", kb) == "GI perforation risk"
    assert field_label("Condition/ra-1", kb) == "Condition/ra-1"
