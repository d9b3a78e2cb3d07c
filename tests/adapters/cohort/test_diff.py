"""``rccnav cohort diff``: what a guideline update changes, patient by patient."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

import pytest
import yaml

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.diff import changes
from rccnav.adapters.cohort.synth import write_export
from rccnav.knowledge.loader import default_knowledge_base

from .conftest import read_rows

# First line, clear cell, IMDC intermediate/poor (therapy_tables.yaml).
TABLE = (
    "axitinib+pembrolizumab",
    "cabozantinib+nivolumab",
    "ipilimumab+nivolumab",
    "lenvatinib+pembrolizumab",
    "cabozantinib",
)


def _edited_kb(tmp_path: Path) -> Path:
    """The shipped knowledge base with cabozantinib no longer preferred in one table."""
    source = Path(str(resources.files("rccnav") / "knowledge" / "data"))
    target = tmp_path / "kb"
    shutil.copytree(source, target)
    tables = target / "therapy_tables.yaml"
    text = tables.read_text()
    before, after = ", ".join(TABLE), ", ".join(TABLE[:-1])
    edited = text.replace(f"preferred: [{before}]", f"preferred: [{after}]")
    assert edited.count(", ".join(TABLE[:-1])) == text.count(", ".join(TABLE)) == 1
    tables.write_text(edited)
    # The guidelines' positions go with it: an option a guideline lists may not leave the
    # table silently (knowledge-base integrity), so this edit drops those too.
    positions_file = target / "guideline_positions.yaml"
    positions = yaml.safe_load(positions_file.read_text())
    for setting in positions["guideline_positions"]["settings"]:
        if setting["setting"] == "first-line.clear-cell.intermediate-poor":
            del setting["options"][TABLE[-1]]
    positions_file.write_text(yaml.safe_dump(positions))
    meta = target / "meta.yaml"
    meta.write_text(re.sub(r'version: "[^"]*"', 'version: "2099.1.0"', meta.read_text(), count=1))
    return target


def test_a_guideline_change_lists_the_patients_it_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    write_export(export, 60, seed=8)
    a, b = tmp_path / "a", tmp_path / "b"
    argv = ["cohort", "assess", str(export), "--at", "first-line-start", "--out"]
    assert main([*argv, str(a)]) == 0
    assert main([*argv, str(b), "--kb", str(_edited_kb(tmp_path))]) == 0
    capsys.readouterr()
    rows = read_rows(a)
    # The edited table applies to first-line clear-cell (or unrecorded histology) patients
    # who are, or may be, intermediate or poor risk.
    expected = {
        row["patient_id"]
        for row in rows
        if row["status"] == "assessed"
        and row["line"] == 1
        and row["histology"] in ("clear-cell", None)
        and {"intermediate", "poor"} & set(row["imdc_possible"])
    }
    full_table = {row["patient_id"] for row in rows if row["preferred"] == sorted(TABLE)}
    assert full_table and full_table < expected
    assert main(["cohort", "diff", str(a), str(b), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "patient_id,what_changed,why"
    changed = {line.split(",", 1)[0]: line for line in lines[1:]}
    assert set(changed) == expected
    assert all("cabozantinib" in line for line in changed.values())
    assert all("preferred drops cabozantinib" in changed[pid] for pid in full_table)
    version = default_knowledge_base().version
    assert all(f"the knowledge base changed ({version} -> 2099.1.0)" in line for line in lines[1:])
    assert main(["cohort", "diff", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{len(expected)} of 60 patients in both runs")
    assert f"(knowledge base {version} -> 2099.1.0)" in text.splitlines()[0]


def test_a_change_in_the_patient_assessment_is_named_as_the_reason() -> None:
    base = {
        "patient_id": "p1",
        "status": "assessed",
        "imdc_group": "intermediate",
        "mskcc_group": "intermediate",
        "line": 1,
        "histology": "clear-cell",
        "preferred": ["axitinib+pembrolizumab", "ipilimumab+nivolumab"],
        "other": [],
        "certain_circumstances": [],
        "cn": "consider",
        "metastasectomy": "not-recommended",
        "active_surveillance": "not-recommended",
        "kb_version": "1",
        "imdc_hemoglobin": "absent",
    }
    for name in ("performance_status", "time_to_treatment", "calcium", "neutrophils", "platelets"):
        base[f"imdc_{name}"] = "absent"
    for name in ("performance_status", "time_to_treatment", "hemoglobin", "calcium", "ldh"):
        base[f"mskcc_{name}"] = "absent"
    after = {
        **base,
        "imdc_group": "favorable",
        "imdc_hemoglobin": "absent",
        "preferred": ["axitinib+pembrolizumab"],
    }
    found = changes([base], [after])
    assert len(found) == 1
    assert found[0].what == ("preferred drops ipilimumab+nivolumab",)
    assert found[0].why == "the assessment differs: imdc group intermediate -> favorable"
    assert changes([base], [dict(base)]) == []
