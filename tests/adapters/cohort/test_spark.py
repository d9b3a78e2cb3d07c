"""The Spark engine gives the local engine's rows, patient for patient (one Spark start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.engine_spark import spark_schema
from rccnav.adapters.cohort.patient import COLUMNS

from .conftest import Assessed, read_rows

pytest.importorskip("pyspark")


@pytest.mark.slow
def test_spark_and_local_engines_give_identical_rows(
    small_cohort: Assessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spark"
    code = main(["cohort", "assess", str(small_cohort.export), "--out", str(out),
                 "--at", "first-line-start", "--engine", "spark", "--master", "local[2]"])
    assert code == 0, capsys.readouterr().err
    rows = read_rows(out)
    assert len(rows) == len(small_cohort.rows)
    assert rows == small_cohort.rows
    assert (out / "patients.csv").read_bytes() == (small_cohort.out / "patients.csv").read_bytes()


def test_spark_schema_covers_every_column() -> None:
    names = [part.split(" ")[0] for part in spark_schema().split(", ")]
    assert tuple(names) == COLUMNS
