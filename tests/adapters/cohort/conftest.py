"""A synthetic export assessed once per test session (shared by the cohort tests)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from rccnav.adapters.cohort.engine_local import run_local
from rccnav.adapters.cohort.patient import Options
from rccnav.adapters.cohort.synth import write_export


@dataclass(frozen=True)
class Assessed:
    export: Path
    out: Path
    rows: list[dict[str, Any]]
    truth: dict[str, dict[str, str]]


def read_rows(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / "patients.parquet").to_pylist()
    return rows


def read_truth(export: Path) -> dict[str, dict[str, str]]:
    with (export / "synth-truth.csv").open(encoding="utf-8") as handle:
        return {row["patient_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Assessed:
    """300 patients assessed at their first-line start by the local engine."""
    root = tmp_path_factory.mktemp("cohort")
    export = root / "export"
    write_export(export, 300, seed=13)
    out = root / "out"
    run_local(export, out, Options(at_first_line_start=True), workers=2)
    return Assessed(export, out, read_rows(out), read_truth(export))
