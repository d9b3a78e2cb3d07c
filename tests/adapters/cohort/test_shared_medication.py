"""Shared ``Medication`` resources: a bulk export keeps them in their own file, without a
patient; each patient whose administrations reference one must be read with it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.engine_local import run_local
from rccnav.adapters.cohort.patient import Options
from rccnav.adapters.cohort.synth import write_export

from .conftest import read_rows

ON = Options(on=date(2025, 6, 1))


def _referenced(export: Path) -> dict[str, set[str]]:
    """Patient id -> the Medication references its administrations make."""
    found: dict[str, set[str]] = {}
    for line in (export / "MedicationAdministration.ndjson").read_bytes().splitlines():
        resource = orjson.loads(line)
        patient = resource["subject"]["reference"].removeprefix("Patient/")
        found.setdefault(patient, set()).add(resource["medicationReference"]["reference"])
    return found


def test_shared_medications_give_the_rows_of_the_same_drugs_named_inline(tmp_path: Path) -> None:
    inline, shared = tmp_path / "inline", tmp_path / "shared"
    write_export(inline, 60, seed=21)
    write_export(shared, 60, seed=21, shared_medications=True)
    assert (shared / "Medication.ndjson").exists()
    references = _referenced(shared)
    assert references and all(r.startswith("Medication/") for s in references.values() for r in s)
    run_local(inline, tmp_path / "a", ON, workers=1)
    summary = run_local(shared, tmp_path / "b", ON, workers=2)
    assert summary.shared_attached == sum(len(refs) for refs in references.values())
    assert summary.unrouted == {"Medication": len(set().union(*references.values()))}
    by_inline = {row["patient_id"]: row for row in read_rows(tmp_path / "a")}
    rows = read_rows(tmp_path / "b")
    assert len(rows) == len(by_inline) == 60
    received = [row for row in rows if row["first_line_regimen"]]
    assert len(received) > 30  # the medications were read: the lines are there
    for row in rows:
        expected = dict(by_inline[row["patient_id"]])
        # The Medication resources are part of the patient's record, read through the
        # administrations that name them: counted as used with them.
        attached = len(references.get(row["patient_id"], ()))
        if row["status"] == "assessed":
            expected["resources_used"] += attached
        assert row == expected


def test_absolute_and_versioned_references_are_attached_too(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_export(export, 12, seed=3, shared_medications=True)
    path = export / "MedicationAdministration.ndjson"
    lines = []
    for number, line in enumerate(path.read_bytes().splitlines()):
        resource = orjson.loads(line)
        reference = resource["medicationReference"]["reference"]
        if number % 2:
            reference = f"https://fhir.example.org/r4/{reference}/_history/3"
        resource["medicationReference"]["reference"] = reference
        lines.append(orjson.dumps(resource))
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = run_local(export, tmp_path / "out", ON, workers=1)
    rows = read_rows(tmp_path / "out")
    assert summary.shared_attached == sum(len(r) for r in _referenced_ids(export).values())
    assert all(
        row["status"] == "assessed" or "Medication" not in (row["reason"] or "") for row in rows
    )


def _referenced_ids(export: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in (export / "MedicationAdministration.ndjson").read_bytes().splitlines():
        resource = orjson.loads(line)
        reference = resource["medicationReference"]["reference"]
        medication = reference.split("Medication/", 1)[1].split("/", 1)[0]
        patient = resource["subject"]["reference"].removeprefix("Patient/")
        found.setdefault(patient, set()).add(medication)
    return found


def test_a_medication_missing_from_the_export_makes_the_patient_unusable_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    write_export(export, 8, seed=5, shared_medications=True)
    medications = (export / "Medication.ndjson").read_bytes().splitlines()
    gone = orjson.loads(medications[0])["id"]
    (export / "Medication.ndjson").write_bytes(b"\n".join(medications[1:]) + b"\n")
    out = tmp_path / "out"
    assert main(["cohort", "assess", str(export), "--out", str(out), "--on", "2025-06-01"]) == 0
    assert "copies of shared Medications were read with the patients" in capsys.readouterr().err
    rows = read_rows(out)
    missing = [row for row in rows if row["reason"] and f"Medication/{gone}" in row["reason"]]
    users = [pid for pid, ids in _referenced_ids(export).items() if gone in ids]
    assert sorted(row["patient_id"] for row in missing) == sorted(users)
    assert all(row["status"] == "unusable" for row in missing)
