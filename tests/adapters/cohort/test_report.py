"""``rccnav cohort report``: a self-contained HTML page, and survival that recovers Heng 2013."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.engine_local import run_local
from rccnav.adapters.cohort.patient import Options
from rccnav.adapters.cohort.report import survival
from rccnav.adapters.cohort.synth import MEDIAN_OS_MONTHS, write_export
from rccnav.adapters.service.feedback import FeedbackRecord, FeedbackStore, IssuedCard

from .conftest import Assessed, read_rows


@pytest.mark.slow
def test_km_medians_recover_the_published_medians(tmp_path: Path) -> None:
    """3,000 synthetic patients through assess: each group's KM median CI holds Heng 2013's."""
    export = tmp_path / "export"
    write_export(export, 3000, seed=21)
    run_local(export, tmp_path / "out", Options(at_first_line_start=True), workers=2)
    result = survival(read_rows(tmp_path / "out"))
    assert result is not None
    medians = {m.group: m for m in result.medians}
    assert set(medians) == set(MEDIAN_OS_MONTHS)
    for group, published in MEDIAN_OS_MONTHS.items():
        median = medians[group]
        assert median.low is not None and median.high is not None, group
        assert median.low <= published <= median.high, (group, median)
    assert result.logrank_p is not None and result.logrank_p < 1e-6
    # Three ordered groups discriminate; Heng 2013 reported a three-group C of 0.664.
    assert result.c_imdc is not None and 0.6 < result.c_imdc < 0.72


def test_report_is_self_contained_html_with_every_section(
    small_cohort: Assessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report.html"
    assert main(["cohort", "report", str(small_cohort.out), "--output", str(output)]) == 0
    text = output.read_text()
    for heading in (
        "Risk groups",
        "IMDC (rows) by MSKCC",
        "Missing data",
        "Recommendations",
        "First-line therapy against the recommendation",
        "Survival by IMDC group",
        "Harrell's C",
    ):
        assert heading in text, heading
    assert text.count("<svg") >= 3
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", text)
    assert "fhir-" not in text and small_cohort.rows[0]["patient_id"] not in text
    # Clinicians' names, not internal ids.
    assert "pembrolizumab + axitinib" in text and "axitinib+pembrolizumab" not in text
    assert "not-recommended" not in text


def test_report_without_first_line_dates_or_deaths_says_so(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_export(export, 20, seed=3)
    for line_file in ("MedicationAdministration.ndjson",):
        (export / line_file).write_text("")
    patients = (export / "Patient.ndjson").read_text().splitlines()
    (export / "Patient.ndjson").write_text(
        "\n".join(re.sub(r',"deceasedDateTime":"[^"]*"', "", p) for p in patients) + "\n"
    )
    run_local(export, tmp_path / "out", Options(on=None), workers=1)
    output = tmp_path / "r.html"
    assert main(["cohort", "report", str(tmp_path / "out"), "--output", str(output)]) == 0
    text = output.read_text()
    assert "assess with <code>--at first-line-start</code>" in text
    assert "no death" in text


def test_override_reasons_from_the_feedback_store(small_cohort: Assessed, tmp_path: Path) -> None:
    db = tmp_path / "feedback.db"
    store = FeedbackStore(db)
    store.note_issued(
        [
            IssuedCard("c1", "rccnav-patient-view", "risk", "2026-01-01T00:00:00Z"),
            IssuedCard("c2", "rccnav-patient-view", "risk", "2026-01-01T00:00:00Z"),
        ]
    )
    store.flush()
    store.add_feedback(
        "rccnav-patient-view",
        [
            FeedbackRecord(
                "c1", "overridden", "2026-01-02T00:00:00Z", override_display="Patient declined"
            ),
            FeedbackRecord("c2", "accepted", "2026-01-02T00:00:00Z"),
        ],
    )
    store.close()
    output = tmp_path / "report.html"
    code = main(
        ["cohort", "report", str(small_cohort.out), "--output", str(output), "--feedback", str(db)]
    )
    assert code == 0
    text = output.read_text()
    assert "Override reasons" in text and "Patient declined" in text


@pytest.mark.parametrize("problem", ["no-rows", "no-feedback-db", "not-a-db"])
def test_report_input_errors_exit_2(
    small_cohort: Assessed, tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    folder = tmp_path if problem == "no-rows" else small_cohort.out
    argv = ["cohort", "report", str(folder), "--output", str(tmp_path / "r.html")]
    if problem == "no-feedback-db":
        argv += ["--feedback", str(tmp_path / "missing.db")]
    if problem == "not-a-db":
        bad = tmp_path / "bad.db"
        bad.write_text("not sqlite at all, just text " * 20)
        argv += ["--feedback", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
