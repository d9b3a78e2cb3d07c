"""Every answer rccnav gives, byte for byte: the guard for work that must not change one.

Speed work (issue 9, issue 11) and refactoring promise "the same output". Vignettes check
the clinical gist; this test checks everything: for every example case file, every shared
FHIR vignette and every clinical vignette, the CLI's JSON (indented, as ``rccnav assess
--format json`` prints it) and, for the examples and shared vignettes, the clinician's text
report and the FHIR R4 Bundle rccnav writes are compared with the copies committed under
``tests/snapshots/``. The examples are also snapshotted in each single guideline's view.

The knowledge-base checksum is masked: it changes with any edit of the knowledge base,
and what a reviewer must see in a snapshot diff is what changed for the patient.

When an output is meant to change, regenerate and review the diff before committing::

    RCCNAV_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_output_snapshots.py
    git diff tests/snapshots
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

import rccnav
from rccnav import Case
from rccnav.adapters.fhir.writer import assessment_to_bundle
from rccnav.adapters.intake import assess_input, read_input
from rccnav.adapters.render.text import render_text
from rccnav.adapters.serialize import assessment_to_json
from rccnav.core.assessment import Assessment, GuidelineViewName
from rccnav.knowledge.loader import default_knowledge_base

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "snapshots"
SHARED_VIGNETTES = ROOT.parent / "shared" / "vignettes"
UPDATE = os.environ.get("RCCNAV_UPDATE_SNAPSHOTS") == "1"
# "A date in the future" is judged against this, so the snapshots do not age.
TODAY = date(2026, 12, 5)
VIEWS: tuple[GuidelineViewName, ...] = ("nccn", "eau", "esmo")


def _on(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _input_cases() -> list[tuple[str, Path, date, GuidelineViewName]]:
    """(snapshot name, input file, assessment date, guideline view)."""
    cases: list[tuple[str, Path, date, GuidelineViewName]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        on = _on(yaml.safe_load(path.read_text(encoding="utf-8"))["assessment_date"])
        cases.append((f"examples/{path.stem}", path, on, "all"))
        cases.extend((f"examples/{path.stem}.{view}", path, on, view) for view in VIEWS)
    for path in sorted(SHARED_VIGNETTES.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
        cases.append((f"shared-vignettes/{path.stem}", path, _on(expected["on"]), "all"))
    return cases


INPUT_CASES = _input_cases()
CLINICAL_VIGNETTES = sorted((ROOT / "tests" / "vignettes" / "cases").glob("*.yaml"))


def _from_input(path: Path, on: date, view: GuidelineViewName) -> Assessment:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=on, kb=kb, today=TODAY)
    return assess_input(intake, kb, on, guideline=view)


def _from_vignette(path: Path) -> Assessment:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    expected = document.pop("expected")
    document.pop("xfail_reason", None)
    return rccnav.assess(
        Case.model_validate(document),
        default_knowledge_base(),
        _on(expected["on"]),
        guideline=expected.get("guideline", "all"),
    )


def _numbered_uuids(text: str) -> str:
    """The writer's ids are uuid5 of the case, date and knowledge-base checksum: number them
    in order of first use, so references stay checkable and a KB edit does not renumber."""
    numbers: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return numbers.setdefault(match.group(0), f"00000000-0000-5000-8000-{len(numbers):012d}")

    return _UUID.sub(number, text)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _masked(text: str, checksum: str) -> str:
    """The checksum, in full or as the 12-character form reports show, masked."""
    return text.replace(checksum, "<knowledge-base checksum>").replace(
        checksum[:12], "<knowledge-base checksum>"
    )


def _outputs(assessment: Assessment, *, fhir: bool = False) -> dict[str, str]:
    checksum = assessment.knowledge_base.checksum
    json_text = assessment_to_json(assessment, indent=True).decode() + "\n"
    outputs = {
        "json": _masked(json_text, checksum),
        "txt": _masked(render_text(assessment), checksum),
    }
    if fhir:
        bundle = assessment_to_bundle(assessment, now=datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
        fhir_text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        outputs["fhir.json"] = _numbered_uuids(_masked(fhir_text, checksum))
    return outputs


def _check(name: str, assessment: Assessment, *, text: bool = True) -> None:
    mismatches: list[str] = []
    # The examples and shared vignettes carry every output; clinical vignettes the JSON.
    for suffix, actual in _outputs(assessment, fhir=text).items():
        if suffix == "txt" and not text:
            continue
        path = SNAPSHOTS / f"{name}.{suffix}"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="utf-8") != actual:
                path.write_text(actual, encoding="utf-8")
            continue
        if not path.exists():
            mismatches.append(f"{path.relative_to(ROOT)} is missing")
            continue
        expected = path.read_text(encoding="utf-8")
        if expected != actual:
            diff = difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                f"{path.relative_to(ROOT)} (committed)",
                "now",
                lineterm="",
                n=2,
            )
            mismatches.append("\n".join(list(diff)[:80]))
    assert not mismatches, (
        "output changed; if that is intended, regenerate with RCCNAV_UPDATE_SNAPSHOTS=1 and "
        "review the diff:\n" + "\n\n".join(mismatches)
    )


@pytest.mark.parametrize(
    ("name", "path", "on", "view"), INPUT_CASES, ids=[c[0] for c in INPUT_CASES]
)
def test_case_file_and_fhir_outputs_are_unchanged(
    name: str, path: Path, on: date, view: GuidelineViewName
) -> None:
    _check(name, _from_input(path, on, view))


@pytest.mark.parametrize("path", CLINICAL_VIGNETTES, ids=[p.stem for p in CLINICAL_VIGNETTES])
def test_clinical_vignette_outputs_are_unchanged(path: Path) -> None:
    # JSON only: the text report's rendering is covered by the cases above.
    _check(f"vignettes/{path.stem}", _from_vignette(path), text=False)


def _case_name(path: Path) -> str:
    """The case a snapshot file belongs to: its path without the output's suffix."""
    return re.sub(r"(\.fhir)?\.(json|txt)$", "", str(path.relative_to(SNAPSHOTS)))


def test_every_snapshot_has_its_case() -> None:
    """A snapshot whose case was removed or renamed is stale: it guards nothing."""
    names = {c[0] for c in INPUT_CASES} | {f"vignettes/{p.stem}" for p in CLINICAL_VIGNETTES}
    stored = {_case_name(p) for p in SNAPSHOTS.rglob("*") if p.is_file()}
    if not SHARED_VIGNETTES.is_dir():  # a clone without ../shared: those cases are not here
        names |= {name for name in stored if name.startswith("shared-vignettes/")}
    assert len(names) >= 190
    assert stored == names


@pytest.mark.skipif(UPDATE, reason="snapshots are being rewritten")
def test_a_changed_answer_is_caught() -> None:
    """The comparison is live: one preferred regimen fewer is reported as a change."""
    name, path, on, view = INPUT_CASES[0]
    assessment = _from_input(path, on, view)
    _check(name, assessment)
    therapy = assessment.systemic_therapy
    assert therapy.preferred
    fewer = replace(therapy, preferred=therapy.preferred[1:])
    with pytest.raises(AssertionError, match="output changed"):
        _check(name, replace(assessment, systemic_therapy=fewer))
