"""The documented public entry points (`import rccnav`): reading any input and batch use."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import rccnav

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "incomplete-ecog-no-calcium.yaml"
VIGNETTE = REPO.parent / "shared" / "vignettes" / "p03-poor.json"


def test_public_surface_is_pinned() -> None:
    assert sorted(rccnav.__all__) == [
        "Assessment",
        "Case",
        "InputError",
        "Intake",
        "KnowledgeBase",
        "__version__",
        "assess",
        "assess_input",
        "default_knowledge_base",
        "load_knowledge_base",
        "read_input",
    ]
    for name in rccnav.__all__:
        assert getattr(rccnav, name) is not None


def test_read_input_uses_the_files_assessment_date() -> None:
    intake = rccnav.read_input(EXAMPLE)
    assert intake.case.assessment_date == date(2026, 11, 20)
    assessment = rccnav.assess_input(intake)
    assert assessment.on == date(2026, 11, 20)
    # on= overrides it, as --on does.
    assert rccnav.assess_input(intake, on=date(2026, 12, 1)).on == date(2026, 12, 1)


def test_path_and_bytes_read_the_same() -> None:
    by_path = rccnav.read_input(str(EXAMPLE))
    by_bytes = rccnav.read_input(EXAMPLE.read_bytes())
    assert by_path.case == by_bytes.case


@pytest.mark.skipif(not VIGNETTE.is_file(), reason="../shared/vignettes is not present")
def test_fhir_batch_with_one_knowledge_base() -> None:
    kb = rccnav.default_knowledge_base()
    on = date(2026, 11, 1)
    results = []
    for path in sorted(VIGNETTE.parent.glob("p0*.json")):
        if path.name.endswith(".expected.json"):
            continue
        intake = rccnav.read_input(path, on=on, kb=kb)
        results.append(rccnav.assess_input(intake, on=on, kb=kb))
    assert len(results) >= 2
    assert all(r.on == on for r in results)
    # The CLI gives the same answer for the same file and date.
    cli = subprocess.run(
        [
            str(Path(sys.executable).with_name("rccnav")),
            "assess",
            str(VIGNETTE),
            "--on",
            on.isoformat(),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    poor = rccnav.assess_input(rccnav.read_input(VIGNETTE, on=on), on=on)
    assert f'"risk_group": "{poor.imdc.risk_group}"' in cli.stdout


def test_unusable_input_raises_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("ecog: seven\n")
    with pytest.raises(rccnav.InputError):
        rccnav.read_input(bad)
    with pytest.raises(rccnav.InputError):
        rccnav.read_input(tmp_path / "missing.json")


def test_format_help_says_what_each_format_is() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("rccnav")), "assess", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    text = " ".join(done.stdout.split())
    for fmt in ("text:", "json:", "markdown:", "fhir:"):
        assert fmt in text, fmt
