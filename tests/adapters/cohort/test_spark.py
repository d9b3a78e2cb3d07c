"""The Spark engine gives the local engine's rows, patient for patient (one Spark start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rccnav.adapters.cli import main

from .conftest import Assessed, read_rows

pytest.importorskip("pyspark")


@pytest.mark.slow
def test_spark_and_local_engines_give_identical_rows(
    small_cohort: Assessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spark"
    code = main(
        [
            "cohort",
            "assess",
            str(small_cohort.export),
            "--out",
            str(out),
            "--at",
            "first-line-start",
            "--engine",
            "spark",
            "--master",
            "local[2]",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = read_rows(out)
    assert len(rows) == len(small_cohort.rows)
    assert rows == small_cohort.rows
    assert (out / "patients.csv").read_bytes() == (small_cohort.out / "patients.csv").read_bytes()


@pytest.mark.slow
def test_spark_attaches_shared_medications_and_resumes_bucket_by_bucket(tmp_path: Path) -> None:
    from datetime import date

    from rccnav.adapters.cohort.engine_local import WORK, run_local
    from rccnav.adapters.cohort.engine_spark import run_spark
    from rccnav.adapters.cohort.patient import Options
    from rccnav.adapters.cohort.synth import write_export

    export = tmp_path / "export"
    write_export(export, 40, seed=21, shared_medications=True)
    options = Options(on=date(2025, 6, 1))
    local = run_local(export, tmp_path / "local", options, workers=1)
    out = tmp_path / "spark"
    first = run_spark(export, out, options, "local[2]")
    assert first.shared_attached == local.shared_attached > 0
    assert first.unrouted == local.unrouted
    assert first.resumed_buckets == 0
    rows = read_rows(out)
    assert rows == read_rows(tmp_path / "local")

    # Interrupted after some buckets: the finished ones are kept, the rest are redone.
    parts = sorted((out / WORK / "parts").glob("part-*.parquet"))
    assert len(parts) == first.buckets
    lost = [parts[0], parts[-1]]
    kept = {p: p.stat().st_mtime_ns for p in parts if p not in lost}
    for part in lost:
        part.unlink()
    (out / "patients.parquet").unlink()
    second = run_spark(export, out, options, "local[2]")
    assert second.resumed_buckets == first.buckets - 2
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())
    assert read_rows(out) == rows

    # The same run again is idempotent: nothing redone, the same rows byte for byte.
    csv = (out / "patients.csv").read_bytes()
    third = run_spark(export, out, options, "local[2]")
    assert third.resumed_buckets == first.buckets
    assert (out / "patients.csv").read_bytes() == csv


@pytest.mark.slow
def test_spark_refuses_a_line_that_is_not_json_and_counts_one_without_resource_type(
    tmp_path: Path,
) -> None:
    """Routing reads each line's fields in one parse; a line it cannot parse is checked in
    full: broken JSON stops the run (as the local engine does), while a JSON object with
    no resourceType is valid, routed to no patient and counted, as the local engine counts it."""
    from datetime import date

    from rccnav.adapters.cohort.engine_local import run_local
    from rccnav.adapters.cohort.engine_spark import run_spark
    from rccnav.adapters.cohort.patient import Options
    from rccnav.adapters.cohort.synth import write_export
    from rccnav.adapters.errors import InputError

    export = tmp_path / "export"
    write_export(export, 6, seed=5)
    observations = export / "Observation.ndjson"
    good = observations.read_bytes()
    options = Options(on=date(2025, 6, 1))
    observations.write_bytes(good + b'{"resourceType": "Observation", "id": "cut", "status": \n')
    with pytest.raises(InputError, match="1 NDJSON lines are not JSON"):
        run_spark(export, tmp_path / "broken", options, "local[2]")
    observations.write_bytes(good + b'{"note": "no resourceType, no subject"}\n')
    spark = run_spark(export, tmp_path / "spark", options, "local[2]")
    local = run_local(export, tmp_path / "local", options, workers=1)
    assert spark.unrouted == local.unrouted == {"(no resourceType)": 1}
    assert read_rows(tmp_path / "spark") == read_rows(tmp_path / "local")
