"""The rccnav command line: exit codes, formats, the risk calculator, kb and schema commands."""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rccnav.adapters import intake as intake_module
from rccnav.adapters.cli import main
from rccnav.adapters.serialize import assessment_json_schema, case_json_schema

from .conftest import EXAMPLES, VIGNETTES

MAIN_EXAMPLE = EXAMPLES / "intermediate-risk-clear-cell.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--format", "json")
    assert code == 0, err
    return orjson.loads(out)


# ------------------------------------------------------------------------ assess


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_assess_every_example_in_every_format(
    fmt: str, example_paths: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for path in example_paths:
        code, out, err = run(capsys, "assess", str(path), "--format", fmt)
        assert code == 0, err
        assert err == ""
        assert "IMDC" in out or '"imdc"' in out


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "assess", str(MAIN_EXAMPLE))
    assert data["imdc"]["risk_group"] == "intermediate"
    assert data["imdc"]["possible_groups"] == ["intermediate"]
    statuses = {f["name"]: f["status"] for f in data["imdc"]["factors"]}
    assert statuses["time_to_treatment"] == "present"
    assert statuses["hemoglobin"] == "present"
    assert statuses["performance_status"] == "absent"
    assert data["mskcc"]["risk_group"] in {"favorable", "intermediate", "poor", None}
    therapy = data["systemic_therapy"]
    assert therapy["line"] == 1
    assert set(therapy) >= {"preferred", "other", "certain_circumstances"}
    assert "recommendation" in data["cytoreductive_nephrectomy"]
    assert "recommendation" in data["metastasectomy"]
    assert data["knowledge_base"]["version"]
    assert all({"code", "message", "source"} <= set(w) for w in data["warnings"])


def test_poor_risk_example_flags_the_nonstandard_combination(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, "assess", str(EXAMPLES / "poor-risk-bone-metastases.yaml"))
    assert data["imdc"]["risk_group"] == "poor"
    assert "nonstandard-regimen" in {w["code"] for w in data["warnings"]}


def test_incomplete_example_is_undetermined(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "assess", str(EXAMPLES / "incomplete-ecog-no-calcium.yaml"))
    imdc = data["imdc"]
    assert imdc["risk_group"] is None
    assert len(imdc["possible_groups"]) > 1
    statuses = {f["name"]: f["status"] for f in imdc["factors"]}
    assert statuses["calcium"] == "unknown"
    assert statuses["performance_status"] == "unknown"
    assert {m["factor"] for m in imdc["missing"]} >= {"calcium", "performance_status"}


def test_on_defaults_to_the_case_files_date_and_can_be_overridden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_json(capsys, "assess", str(MAIN_EXAMPLE))["on"] == "2026-11-20"
    moved = run_json(capsys, "assess", str(MAIN_EXAMPLE), "--on", "2027-06-01")
    assert moved["on"] == "2027-06-01"
    # 13.5 months after diagnosis: time to treatment is no longer < 1 year.
    statuses = {f["name"]: f["status"] for f in moved["imdc"]["factors"]}
    assert statuses["time_to_treatment"] == "absent"


def test_on_defaults_to_today_without_a_case_date(
    write_case: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case("plain.yaml", "sex: female\n")
    assert run_json(capsys, "assess", str(path))["on"] == date.today().isoformat()


def test_data_after_on_is_ignored_not_rejected(
    write_case: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = MAIN_EXAMPLE.read_text()
    data = run_json(capsys, "assess", str(write_case("c.yaml", text)), "--on", "2026-11-10")
    statuses = {f["name"]: f["status"] for f in data["imdc"]["factors"]}
    # the 2026-11-18 labs are after --on, so hemoglobin is unknown rather than present
    assert statuses["hemoglobin"] == "unknown"
    assert any("hemoglobin" in item for item in data["ignored_data"])


def test_lookback_days_reaches_the_engine(
    write_case: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = "labs:\n  hemoglobin: {value: 10, unit: g/dL, low: 12, high: 16, date: 2026-06-01}\n"
    path = str(write_case("old.yaml", text))
    narrow = run_json(capsys, "assess", path, "--on", "2026-11-01", "--lookback-days", "30")
    wide = run_json(capsys, "assess", path, "--on", "2026-11-01", "--lookback-days", "400")

    assert _statuses(narrow["imdc"])["hemoglobin"] == "unknown"
    assert _statuses(wide["imdc"])["hemoglobin"] == "present"


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MAIN_EXAMPLE.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run_json(capsys, "assess", "-")["imdc"]["risk_group"] == "intermediate"


def test_stdin_errors_name_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"performance: {kps: 55}\n")))
    code, _, err = run(capsys, "assess", "-")
    assert code == 2
    assert "<stdin>" in err and "performance.kps" in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["assess", "/nonexistent/case.yaml"], "/nonexistent/case.yaml"),
        (["assess", "."], "directory"),
        (["assess", str(MAIN_EXAMPLE), "--on", "2026-02-30"], "YYYY-MM-DD"),
        (["assess", str(MAIN_EXAMPLE), "--lookback-days", "0"], "--lookback-days"),
        (["assess", str(MAIN_EXAMPLE), "--format", "pdf"], "--format"),
        ([], "COMMAND"),
    ],
)
def test_usage_and_file_errors_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert fragment in err
    assert "Traceback" not in err


def test_internal_error_exits_1_without_traceback_or_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Jane Doe, born 1960")

    monkeypatch.setattr(intake_module, "assess", broken)
    monkeypatch.delenv("RCCNAV_DEBUG", raising=False)
    code, out, err = run(capsys, "assess", str(MAIN_EXAMPLE))
    assert code == 1
    assert out == ""
    assert err.startswith("rccnav: error: internal error (RuntimeError)")
    assert "Jane" not in err
    assert "Traceback" not in err
    monkeypatch.setenv("RCCNAV_DEBUG", "1")
    code, _, err = run(capsys, "assess", str(MAIN_EXAMPLE))
    assert code == 1
    assert "Traceback" in err


def test_fhir_output(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rccnav.adapters.fhir.writer")
    code, out, err = run(capsys, "assess", str(MAIN_EXAMPLE), "--format", "fhir")
    assert code == 0, err
    assert orjson.loads(out)["resourceType"] == "Bundle"


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("rccnav ")
    code, out, _ = run(capsys, "assess", "--help")
    assert code == 0 and "--lookback-days" in out


# ---------------------------------------------------------------- real process


def _entry_point() -> str:
    script = Path(sys.executable).with_name("rccnav")
    found = str(script) if script.exists() else shutil.which("rccnav")
    if found is None:
        pytest.fail("the rccnav entry point is not installed: pip install -e .")
    return found


def test_installed_entry_point_runs() -> None:
    done = subprocess.run(
        [_entry_point(), "assess", str(MAIN_EXAMPLE), "--format", "json"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert orjson.loads(done.stdout)["imdc"]["risk_group"] == "intermediate"


def test_installed_entry_point_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("labs:\n  hemoglobin: {value: 12, unit: g/dL, lowr: 11}\n")
    done = subprocess.run(
        [_entry_point(), "assess", str(bad)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert stderr.startswith("rccnav: error: ")
    assert "labs.hemoglobin.lowr" in stderr and "did you mean 'low'" in stderr
    assert "Traceback" not in stderr
    assert done.stdout == b""


def test_text_output_has_no_colour_when_piped() -> None:
    done = subprocess.run(
        [_entry_point(), "assess", str(MAIN_EXAMPLE)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0
    assert b"\033[" not in done.stdout
    assert max(len(line) for line in done.stdout.decode().splitlines()) <= 100


# -------------------------------------------------------------------------- risk


def _statuses(result: Any) -> dict[str, str]:
    return {f["name"]: f["status"] for f in result["factors"]}


def test_risk_with_nothing_known_keeps_every_group_possible(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = run_json(capsys, "risk")
    assert data["imdc"]["risk_group"] is None
    assert data["imdc"]["possible_groups"] == ["favorable", "intermediate", "poor"]
    assert set(_statuses(data["imdc"]).values()) == {"unknown"}
    assert set(_statuses(data["mskcc"])) == {
        "performance_status",
        "time_to_treatment",
        "hemoglobin",
        "calcium",
        "ldh",
    }


def test_risk_counts_flags(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        "risk",
        "--kps", "70",
        "--diagnosis-to-treatment-days", "100",
        "--hb-low", "--ca-normal", "--anc-normal", "--plt-normal",
    )  # fmt: skip
    assert data["imdc"]["risk_group"] == "poor"
    assert _statuses(data["imdc"]) == {
        "performance_status": "present",
        "time_to_treatment": "present",
        "hemoglobin": "present",
        "calcium": "absent",
        "neutrophils": "absent",
        "platelets": "absent",
    }
    # --ca-normal (vs the lab's ULN) does not answer MSKCC's fixed 10 mg/dL cut-off
    assert _statuses(data["mskcc"])["calcium"] == "unknown"


def test_risk_favorable(capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(
        capsys,
        "risk",
        "--kps", "90",
        "--diagnosed", "2020-01-01",
        "--on", "2026-01-01",
        "--hb-normal", "--ca-normal", "--anc-normal", "--plt-normal",
        "--mskcc-ca-normal", "--ldh-normal",
    )  # fmt: skip
    assert data["imdc"]["risk_group"] == "favorable"
    assert data["mskcc"]["risk_group"] == "favorable"
    assert data["imdc"]["survival"], "published survival for the group is shown"


def test_risk_ecog_uses_the_core_conversion(capsys: pytest.CaptureFixture[str]) -> None:
    ecog0 = run_json(capsys, "risk", "--ecog", "0")["imdc"]
    ecog3 = _statuses(run_json(capsys, "risk", "--ecog", "3")["imdc"])
    assert _statuses(ecog0)["performance_status"] == "absent"
    assert ecog3["performance_status"] == "present"
    performance = next(f for f in ecog0["factors"] if f["name"] == "performance_status")
    assert performance["source"] == "--ecog"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["risk", "--kps", "75"], "--kps: KPS must be a multiple of 10"),
        (["risk", "--kps", "80", "--ecog", "1"], "not allowed with"),
        (["risk", "--hb-low", "--hb-normal"], "not allowed with"),
        (["risk", "--diagnosed", "2026-05-01", "--on", "2026-01-01"], "--diagnosed"),
        (["risk", "--diagnosis-to-treatment-days", "-3"], "negative"),
    ],
)
def test_risk_rejects_bad_flags(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert fragment in err


def test_risk_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "risk", "--kps", "60", "--hb-low")
    assert code == 0
    assert "IMDC (Heng)" in out and "MSKCC (Motzer)" in out
    assert "performance status  present" in out
    assert "References" in out and "[1] " in out
    assert max(len(line) for line in out.splitlines()) <= 100


_TRI = st.sampled_from([None, True, False])
# case-file field: (abnormal flag, normal flag, abnormal value, normal value, unit, low, high)
_LAB_FLAGS = {
    "hemoglobin": ("hb-low", "hb-normal", 10, 14, "g/dL", 12, 16),
    "calcium_corrected": ("ca-high", "ca-normal", 11, 9.5, "mg/dL", 8.5, 10.2),
    "neutrophils": ("anc-high", "anc-normal", 9, 4, "10*9/L", 1.5, 7.5),
    "platelets": ("plt-high", "plt-normal", 500, 250, "10*9/L", 150, 400),
}


@settings(max_examples=40, deadline=None)
@given(
    kps=st.sampled_from([None, 50, 70, 80, 100]),
    hb=_TRI,
    ca=_TRI,
    anc=_TRI,
    plt=_TRI,
    days=st.sampled_from([None, 30, 400]),
)
def test_risk_flags_agree_with_assessing_a_case(
    kps: int | None,
    hb: bool | None,
    ca: bool | None,
    anc: bool | None,
    plt: bool | None,
    days: int | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """One grouping truth: the flags give the same IMDC answer as the equivalent case file."""
    on = date(2026, 11, 1)
    argv = ["risk", "--on", on.isoformat(), "--format", "json"]
    case: dict[str, Any] = {"labs": {}}
    if kps is not None:
        argv += ["--kps", str(kps)]
        case["performance"] = {"kps": kps}
    if days is not None:
        argv += ["--diagnosis-to-treatment-days", str(days)]
        case["diagnosis"] = {"date": (on - timedelta(days=days)).isoformat()}
    states = {"hemoglobin": hb, "calcium_corrected": ca, "neutrophils": anc, "platelets": plt}
    for field, (yes, no, abnormal, normal, unit, low, high) in _LAB_FLAGS.items():
        state = states[field]
        if state is not None:
            argv.append(f"--{yes}" if state else f"--{no}")
            value = abnormal if state else normal
            measurement = {"value": value, "unit": unit, "low": low, "high": high}
            case["labs"][field] = {**measurement, "date": on.isoformat()}
    path = tmp_path_factory.mktemp("agree") / "case.json"
    path.write_bytes(orjson.dumps(case))
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdout", out)
        assert main(argv) == 0
        from_flags = orjson.loads(out.getvalue())["imdc"]
        out.seek(0)
        out.truncate()
        assert main(["assess", str(path), "--on", on.isoformat(), "--format", "json"]) == 0
        from_case = orjson.loads(out.getvalue())["imdc"]
    assert from_flags["possible_groups"] == from_case["possible_groups"]
    assert _statuses(from_flags) == _statuses(from_case)


# ------------------------------------------------------------- kb and schema


def test_kb_check(capsys: pytest.CaptureFixture[str], kb: Any) -> None:
    code, out, _ = run(capsys, "kb", "check")
    assert code == 0
    assert kb.version in out and kb.checksum[:12] in out


def test_kb_check_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rccnav.knowledge.loader import default_data_dir

    data = tmp_path / "kb"
    shutil.copytree(default_data_dir(), data)
    regimens = data / "regimens.yaml"
    text = regimens.read_text()
    assert "sources:" in text
    regimens.write_text(text.replace("sources: [", "sources: [no-such-source, ", 1))
    code, out, _ = run(capsys, "kb", "check", "--data-dir", str(data))
    assert code == 1
    assert "no-such-source" in out


def _kb_entry_ids(kb: Any) -> list[str]:
    ids = [*kb.sources, *kb.agents, *kb.regimens, *kb.non_drug_options, *kb.rules, *kb.analytes]
    for section in (
        kb.therapy_tables,
        kb.contraindications,
        kb.therapy_categories,
        kb.nonstandard_combinations,
    ):
        ids.extend(item.id for item in section)
    return ids


def test_kb_report_covers_every_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kb: Any
) -> None:
    code, markdown, err = run(capsys, "kb", "report")
    assert code == 0, err
    target = tmp_path / "kb.html"
    code, out, err = run(capsys, "kb", "report", "--format", "html", "--output", str(target))
    assert code == 0, err
    assert out == ""
    page = html.unescape(target.read_text())
    assert page.lower().startswith("<!doctype html>")
    headings = (
        (markdown, r"^### {}( —|$)"),
        (page, r"<h3[^>]*>{}( —|</h3>)"),
    )
    for document, heading in headings:
        assert kb.version in document and kb.checksum in document
        for entry_id in _kb_entry_ids(kb):
            assert re.search(heading.format(re.escape(entry_id)), document, re.M), entry_id
        for source in kb.sources.values():
            assert source.citation[:40] in document.replace("\\", "")
        for rule in kb.rules.values():
            assert f"{rule.id} — review status: " in document
        for row in kb.default_limits:
            assert f"{row.analyte} {row.limit} limit" in document
        for row in kb.survival:
            assert f"{row.model} / {row.setting} / {row.risk_group}" in document
        assert "Sign-off" in document


@pytest.mark.parametrize(
    ("which", "expected"), [("case", case_json_schema), ("assessment", assessment_json_schema)]
)
def test_schema_command(
    which: str, expected: Callable[[], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "schema", which)
    assert code == 0
    assert orjson.loads(out) == expected()


# ------------------------------------------------------------------- vignettes


def _vignettes() -> list[Path]:
    return sorted(VIGNETTES.glob("*.expected.json"))


@pytest.mark.parametrize("expected_path", _vignettes(), ids=lambda p: p.name.split(".")[0])
def test_vignette(expected_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rccnav.adapters.fhir.reader")
    spec = orjson.loads(expected_path.read_bytes())
    bundle = expected_path.with_name(expected_path.name.replace(".expected", ""))
    data = run_json(capsys, "assess", str(bundle), "--on", spec["on"])
    _check_expectations(data, spec["expect"], spec.get("why", ""))


def _check_expectations(data: Any, expect: dict[str, Any], why: str) -> None:
    therapy = data["systemic_therapy"]
    listed = {*therapy["preferred"], *therapy["other"], *therapy["certain_circumstances"]}
    codes = {w["code"] for w in data["warnings"]}
    checks: dict[str, Callable[[Any], None]] = {
        "imdc_group": lambda v: _eq(data["imdc"]["risk_group"], v),
        "imdc_possible": lambda v: _eq(set(data["imdc"]["possible_groups"]), set(v)),
        "imdc_status": lambda v: _eq({k: _statuses(data["imdc"]).get(k) for k in v}, v),
        "mskcc_group": lambda v: _eq(data["mskcc"]["risk_group"], v),
        "line": lambda v: _eq(therapy["line"], v),
        "pref_has": lambda v: _eq(set(v) - set(therapy["preferred"]), set()),
        "pref_lacks": lambda v: _eq(set(v) & set(therapy["preferred"]), set()),
        "pref_lacks_ici": lambda v: _eq(
            [r for r in therapy["preferred"] if any(a in r for a in _CHECKPOINT)], []
        ),
        "any_has": lambda v: _eq(set(v) - listed, set()),
        "cn": lambda v: _eq(data["cytoreductive_nephrectomy"]["recommendation"], v),
        "mets": lambda v: _eq(data["metastasectomy"]["recommendation"], v),
        "warn_has": lambda v: _eq(set(v) - codes, set()),
        "warn_lacks": lambda v: _eq(set(v) & codes, set()),
    }
    unknown = set(expect) - set(checks)
    assert not unknown, f"unknown expectation keys {unknown}"
    for key, value in expect.items():
        try:
            checks[key](value)
        except AssertionError as exc:
            raise AssertionError(f"{key}: {exc} ({why})") from None


_CHECKPOINT = ("nivolumab", "pembrolizumab", "ipilimumab", "avelumab", "atezolizumab", "durvalumab")


def _eq(actual: Any, expected: Any) -> None:
    assert actual == expected, f"got {actual!r}, expected {expected!r}"


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])  # fhir carries a timestamp
def test_output_is_the_same_with_a_cold_a_warm_and_no_compiled_cache(
    fmt: str, tmp_path: Path
) -> None:
    files = [EXAMPLES / "intermediate-risk-clear-cell.yaml"]
    if VIGNETTES.is_dir():
        files.append(VIGNETTES / "p03-poor.json")
    for file in files:
        outputs = []
        for env in ({"RCCNAV_CACHE_DIR": str(tmp_path)},) * 2 + ({"RCCNAV_NO_CACHE": "1"},):
            done = subprocess.run(
                [sys.executable, "-m", "rccnav.adapters.cli", "assess", str(file),
                 "--on", "2026-11-01", "--format", fmt],
                capture_output=True, env={"PATH": "/usr/bin:/bin", **env}, check=True,
            )  # fmt: skip
            outputs.append(done.stdout)
        assert outputs[0] == outputs[1] == outputs[2], file.name
        assert outputs[0]


def test_building_the_command_line_imports_no_optional_stack() -> None:
    # Start-up is most of a single assessment: registering `serve`, `web`, `report` and
    # `cohort` must not import their frameworks (FastAPI alone tripled the start-up).
    probe = (
        "import sys; from rccnav.adapters.cli import build_parser; build_parser(); "
        "print(' '.join(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'jinja2', "
        "'duckdb', 'pyspark', 'pyarrow', 'lifelines', 'matplotlib', 'httpx', 'jwt', "
        "'ucumvert', 'pint', 'fhir') if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


_OPTIONAL_CLIS = (
    "rccnav.adapters.service.cli",
    "rccnav.adapters.web.cli",
    "rccnav.adapters.cohort.cli",
)


def _modules_after(code: str) -> set[str]:
    probe = f"import sys; {code}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("command", ["assess", "risk", "kb", "schema"])
def test_a_command_of_the_cli_itself_does_not_register_the_optional_ones(command: str) -> None:
    loaded = _modules_after(
        f"from rccnav.adapters.cli import build_parser; build_parser([{command!r}, '--help-x'])"
    )
    assert not loaded & set(_OPTIONAL_CLIS)


def test_the_whole_command_line_still_lists_and_runs_the_optional_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    loaded = _modules_after("from rccnav.adapters.cli import build_parser; build_parser()")
    assert loaded >= set(_OPTIONAL_CLIS)
    code, listed, _ = run(capsys, "--help")
    assert code == 0
    for command in ("assess", "risk", "kb", "schema", "serve", "web", "report", "cohort"):
        assert re.search(rf"^\s+{command}\s", listed, re.MULTILINE), command
    code, out, _ = run(capsys, "cohort", "--help")
    assert code == 0 and "usage: rccnav cohort" in out


def test_a_short_command_line_gives_the_same_usage_and_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rccnav.adapters.cli import build_parser

    for argv in (["assess", "--help"], ["risk", "--kps", "x"], ["assess"], ["kb"]):
        outputs = []
        for parser in (build_parser(argv), build_parser()):
            with pytest.raises(SystemExit) as stopped:
                parser.parse_args(argv)
            captured = capsys.readouterr()
            outputs.append((stopped.value.code, captured.out, captured.err))
        assert outputs[0] == outputs[1], argv


def test_main_leaves_its_callers_gc_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tuning the process (GC freeze, reused code) is the program's (adapters/program.py),
    # not main()'s: tests and the service's workers call main() in their own process.
    import gc

    freezes: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(True))
    assert main(["schema", "case"]) == 0
    assert not freezes and gc.isenabled()
