"""``rccnav web`` refuses network addresses; ``rccnav report`` writes the summary."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.web.pdf import find_chromium

from ..conftest import VIGNETTES
from .conftest import _require_browser


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_web_refuses_a_non_loopback_host(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--no-browser", "--host", host]) == 2
    err = capsys.readouterr().err
    assert "--host" in err and "this computer only" in err


def test_web_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["web", "--no-browser", "--port", str(port)]) == 2
    assert "choose another --port" in capsys.readouterr().err


@pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")
def test_report_html_is_dated_with_kb_version_and_disclaimer(tmp_path: Path) -> None:
    out = tmp_path / "summary.html"
    assert (
        main(
            ["report", str(VIGNETTES / "p03-poor.json"), "--on", "2026-11-01", "--output", str(out)]
        )
        == 0
    )
    html = out.read_text()
    assert "Assessment date <strong>2026-11-01</strong>" in html
    assert re.search(r"knowledge base \S+ \([0-9a-f]{12}\)", html)
    assert "not a substitute for clinical judgement" in html
    assert "<strong>IMDC: poor</strong>" in html
    assert "@media print" in html and "<link" not in html  # styles travel with the file


@pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")
def test_report_pdf_text(tmp_path: Path) -> None:
    if find_chromium() is None:
        if _require_browser():
            pytest.fail("Chromium is missing: the PDF report cannot be tested")
        pytest.skip("Chromium is missing")
    from pypdf import PdfReader

    out = tmp_path / "summary.pdf"
    assert (
        main(
            [
                "report",
                str(VIGNETTES / "p10-after-ipi-nivo.json"),
                "--on",
                "2026-11-01",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    reader = PdfReader(str(out))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert len(reader.pages) == 1
    assert "Tumour-board summary" in text and "Assessment date 2026-11-01" in text
    assert "Systemic therapy, line 2" in text
    assert "not a substitute for clinical judgement" in text


def test_report_rejects_other_outputs_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "case.json"
    case.write_text("{}")
    assert main(["report", str(case), "--output", str(tmp_path / "x.docx")]) == 2
    assert "must end in .pdf or .html" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"labs": {"hemoglobin": {"value": 1}}}')
    assert main(["report", str(bad), "--output", str(tmp_path / "x.html")]) == 2
    assert "labs.hemoglobin.unit" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    missing = tmp_path / "missing.json"
    assert main(["report", str(missing), "--output", str(tmp_path / "y.html")]) == 2


def test_report_pdf_without_chromium_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCCNAV_CHROMIUM", str(tmp_path / "no-such-browser"))
    case = tmp_path / "case.json"
    case.write_text("{}")
    assert main(["report", str(case), "--output", str(tmp_path / "s.pdf")]) == 2
    assert "needs Chromium" in capsys.readouterr().err


def test_without_the_web_extra_the_commands_say_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else real(name, *a)
    )
    case = tmp_path / "case.json"
    case.write_text("{}")
    assert main(["report", str(case), "--output", str(tmp_path / "s.html")]) == 2
    assert "pip install 'rccnav[web]'" in capsys.readouterr().err
    assert main(["web", "--no-browser", "--port", "0"]) == 2
    assert "jinja2" in capsys.readouterr().err
