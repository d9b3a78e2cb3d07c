"""The synthetic Bulk Data export: shape, determinism and the published figures it draws from."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import orjson
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.synth import GROUP_COUNTS, INCOMPLETE_SHARE, patients

from .conftest import read_truth


def _lines(folder: Path, rtype: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (folder / f"{rtype}.ndjson").read_bytes().splitlines()]


def test_cli_writes_an_export_with_a_bulk_data_manifest(tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert main(["cohort", "synth", "--patients", "40", "--seed", "3", "--out", str(out)]) == 0
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert manifest["error"] == []
    types = {item["type"] for item in manifest["output"]}
    assert {"Patient", "Condition", "Observation", "MedicationAdministration"} <= types
    for item in manifest["output"]:
        lines = _lines(out, item["type"])
        assert item["url"] == f"{item['type']}.ndjson"
        assert item["count"] == len(lines)
        assert all(resource["resourceType"] == item["type"] for resource in lines)
    patient_ids = {p["id"] for p in _lines(out, "Patient")}
    assert len(patient_ids) == 40
    for rtype in types - {"Patient"}:
        for resource in _lines(out, rtype):
            subject = resource["subject"]
            assert isinstance(subject, dict)
            assert subject["reference"].removeprefix("Patient/") in patient_ids


def test_same_seed_same_export_other_seed_other_export(tmp_path: Path) -> None:
    def export(seed: int, name: str) -> bytes:
        out = tmp_path / name
        main(["cohort", "synth", "--patients", "25", "--seed", str(seed), "--out", str(out)])
        return b"".join((out / f).read_bytes() for f in ("Patient.ndjson", "Observation.ndjson"))

    assert export(5, "a") == export(5, "b")
    assert export(5, "a") != export(6, "c")


def test_group_shares_and_incomplete_data_follow_heng_2013() -> None:
    drawn = [truth for _resources, truth in patients(4000, seed=2)]
    groups = Counter(t.imdc_group for t in drawn)
    total = sum(GROUP_COUNTS.values())
    for group, published in GROUP_COUNTS.items():
        share = published / total
        error = math.sqrt(share * (1 - share) / len(drawn))
        assert abs(groups[group] / len(drawn) - share) < 4 * error, group
    incomplete = sum(not t.complete for t in drawn) / len(drawn)
    error = math.sqrt(INCOMPLETE_SHARE * (1 - INCOMPLETE_SHARE) / len(drawn))
    assert abs(incomplete - INCOMPLETE_SHARE) < 4 * error
    # Factor counts match the group definitions (reference §1.2).
    assert all(t.factors == 0 for t in drawn if t.imdc_group == "favorable")
    assert all(1 <= t.factors <= 2 for t in drawn if t.imdc_group == "intermediate")
    assert all(t.factors >= 3 for t in drawn if t.imdc_group == "poor")
    histology = Counter(t.histology for t in drawn)
    assert 0.75 <= histology["8310/3"] / len(drawn) <= 0.85  # clear cell 75-85%


@pytest.mark.parametrize("seed", [1, 2])
def test_truth_file_lists_every_patient(tmp_path: Path, seed: int) -> None:
    out = tmp_path / "export"
    main(["cohort", "synth", "--patients", "30", "--seed", str(seed), "--out", str(out)])
    truth = read_truth(out)
    assert set(truth) == {p["id"] for p in _lines(out, "Patient")}
    deceased = {p["id"] for p in _lines(out, "Patient") if "deceasedDateTime" in p}
    assert deceased == {pid for pid, row in truth.items() if row["died"] == "true"}
