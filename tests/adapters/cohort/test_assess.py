"""``rccnav cohort assess``: one row per patient, equal to ``rccnav assess`` for that patient."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.engine_local import WORK, run_local
from rccnav.adapters.cohort.group import bucket_patients
from rccnav.adapters.cohort.patient import COLUMNS, Options
from rccnav.adapters.cohort.synth import write_export

from .conftest import Assessed, read_rows


def _patient_lines(out: Path) -> dict[str, list[str]]:
    grouped = out / WORK / "grouped"
    return {
        pid: lines for bucket in sorted(grouped.iterdir()) for pid, lines in bucket_patients(bucket)
    }


def test_one_row_per_patient_with_the_documented_columns(small_cohort: Assessed) -> None:
    assert [row["patient_id"] for row in small_cohort.rows] == sorted(small_cohort.truth)
    assert tuple(small_cohort.rows[0]) == COLUMNS
    docs = (Path(__file__).resolve().parents[3] / "docs" / "cohort.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in docs, f"column {column} is not documented in docs/cohort.md"


def test_groups_equal_the_drawn_groups_when_every_factor_is_recorded(
    small_cohort: Assessed,
) -> None:
    complete = [
        row
        for row in small_cohort.rows
        if small_cohort.truth[row["patient_id"]]["complete"] == "true"
        and small_cohort.truth[row["patient_id"]]["usable"] == "true"
    ]
    assert len(complete) > 200
    for row in complete:
        assert row["imdc_group"] == small_cohort.truth[row["patient_id"]]["imdc_group"]
        assert row["line"] == 1
        assert row["first_line_regimen"] == small_cohort.truth[row["patient_id"]]["first_line"]


def test_unusable_records_get_a_row_with_the_reason(small_cohort: Assessed) -> None:
    unusable = [
        r for r in small_cohort.rows if small_cohort.truth[r["patient_id"]]["usable"] == "false"
    ]
    assert unusable, "the seed should include a record without an RCC diagnosis"
    for row in unusable:
        assert row["status"] == "unusable"
        assert "no renal cell carcinoma diagnosis" in row["reason"]
        assert row["imdc_group"] is None and row["preferred"] is None


def _cli_json(capsys: pytest.CaptureFixture[str], path: Path, on: date) -> tuple[int, Any, str]:
    code = main(["assess", str(path), "--on", on.isoformat(), "--format", "json"])
    captured = capsys.readouterr()
    return code, orjson.loads(captured.out) if code == 0 else None, captured.err


def test_rows_equal_rccnav_assess_for_the_same_patient(
    small_cohort: Assessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _patient_lines(small_cohort.out)
    rows = {row["patient_id"]: row for row in small_cohort.rows}
    undetermined = [
        pid
        for pid, row in rows.items()
        if row["status"] == "assessed" and row["imdc_group"] is None
    ][:5]
    unusable = [pid for pid, row in rows.items() if row["status"] == "unusable"][:2]
    chosen = sorted(rows)[:12] + undetermined + unusable
    for pid in chosen:
        row = rows[pid]
        path = tmp_path / f"{pid}.ndjson"
        path.write_text("\n".join(lines[pid]) + "\n")
        if row["status"] == "unusable":
            code, _, err = _cli_json(capsys, path, date.today())
            assert code == 2
            assert row["reason"].split(": ", 1)[1] in err
            continue
        code, result, err = _cli_json(capsys, path, row["assessed_on"])
        assert code == 0, err
        therapy = result["systemic_therapy"]
        assert row["imdc_group"] == result["imdc"]["risk_group"]
        assert row["imdc_possible"] == result["imdc"]["possible_groups"]
        assert row["mskcc_group"] == result["mskcc"]["risk_group"]
        assert row["line"] == therapy["line"]
        assert row["preferred"] == therapy["preferred"]
        assert row["other"] == therapy["other"]
        assert row["cn"] == result["cytoreductive_nephrectomy"]["recommendation"]
        assert row["metastasectomy"] == result["metastasectomy"]["recommendation"]
        assert row["warnings"] == [w["code"] for w in result["warnings"]]
        assert row["ignored_items"] == len(result["ignored_data"])
        assert row["kb_version"] == result["knowledge_base"]["version"]
        for factor in result["imdc"]["factors"]:
            assert row[f"imdc_{factor['name']}"] == factor["status"]


def test_received_regimen_is_placed_against_the_recommendation(small_cohort: Assessed) -> None:
    truth = small_cohort.truth
    seen = set()
    for row in small_cohort.rows:
        drawn = truth[row["patient_id"]]
        if row["status"] != "assessed" or drawn["histology"] != "8310/3":
            continue
        regimen = row["first_line_regimen"]
        # NCCN: pembrolizumab + axitinib is preferred first line in every IMDC group; nivolumab
        # + ipilimumab is not a favorable-risk option (CheckMate 214, OS HR 1.19).
        if regimen == "axitinib+pembrolizumab" and row["imdc_group"] is not None:
            assert row["first_line_concordance"] == "preferred"
            seen.add("pembro-axi")
        if regimen == "ipilimumab+nivolumab" and row["imdc_group"] == "favorable":
            assert row["first_line_concordance"] != "preferred"
            seen.add("ipi-nivo favorable")
    assert seen == {"pembro-axi", "ipi-nivo favorable"}


def test_rerun_resumes_and_gives_the_same_rows(small_cohort: Assessed, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(small_cohort.out, out)
    parts = sorted((out / WORK / "parts").glob("part-*.parquet"))
    parts[0].unlink()
    summary = run_local(small_cohort.export, out, Options(at_first_line_start=True), workers=1)
    assert summary.resumed_buckets == summary.buckets - 1
    assert read_rows(out) == small_cohort.rows
    # Nothing left to do: every bucket is resumed, same rows again.
    again = run_local(small_cohort.export, out, Options(at_first_line_start=True), workers=1)
    assert again.resumed_buckets == again.buckets
    assert read_rows(out) == small_cohort.rows


def test_other_options_start_afresh(small_cohort: Assessed, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(small_cohort.out, out)
    summary = run_local(small_cohort.export, out, Options(on=date(2026, 6, 1)), workers=1)
    assert summary.resumed_buckets == 0
    rows = read_rows(out)
    assert {row["assessed_on"] for row in rows if row["status"] == "assessed"} == {date(2026, 6, 1)}
    assert all(row["first_line_concordance"] is None for row in rows)


def test_gzipped_export_gives_the_same_rows(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_export(plain, 30, seed=4)
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    manifest = orjson.loads((plain / "manifest.json").read_bytes())
    for item in manifest["output"]:
        source = plain / item["url"]
        (zipped / f"{item['url']}.gz").write_bytes(gzip.compress(source.read_bytes()))
        item["url"] = f"https://fhir.example.org/bulk/{item['url']}.gz"
    (zipped / "manifest.json").write_bytes(orjson.dumps(manifest))
    options = Options(on=date(2025, 1, 1))
    run_local(plain, tmp_path / "a", options, workers=1)
    run_local(zipped, tmp_path / "b", options, workers=1)
    assert read_rows(tmp_path / "a") == read_rows(tmp_path / "b")
    assert pq.read_table(tmp_path / "a" / "patients.parquet").num_rows == 30


def test_resources_of_no_patient_are_counted_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    write_export(export, 5, seed=1)
    (export / "manifest.json").unlink()
    (export / "Medication.ndjson").write_text('{"resourceType":"Medication","id":"m1"}\n')
    out = tmp_path / "out"
    assert main(["cohort", "assess", str(export), "--out", str(out), "--on", "2025-01-01"]) == 0
    summary = orjson.loads((out / "cohort.json").read_bytes())
    assert summary["unrouted"] == {"Medication": 1}
    assert "1 resources belong to no patient" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "not a folder"),
        ("empty", "no NDJSON files"),
        ("manifest-file", "which is not in the folder"),
        ("manifest-json", "not JSON"),
        ("bad-line", "Malformed JSON"),
    ],
)
def test_unusable_exports_exit_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    export = tmp_path / "export"
    if setup != "missing":
        export.mkdir()
    if setup == "manifest-file":
        listed = '{"output": [{"type": "Patient", "url": "P.ndjson"}]}'
        (export / "manifest.json").write_text(listed)
    if setup == "manifest-json":
        (export / "manifest.json").write_text("{")
    if setup == "bad-line":
        (export / "Patient.ndjson").write_text('{"resourceType":"Patient","id":"a"}\n{oops\n')
    code = main(["cohort", "assess", str(export), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
