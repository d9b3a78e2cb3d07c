"""``rccnav assess --guideline nccn|eau|esmo``: one guideline's view, the others still shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rccnav.adapters.cli import main

# A synthetic favourable-risk clear-cell patient with sarcomatoid features (vignette guidelines-01).
CASE = (
    Path(__file__).resolve().parents[1]
    / "vignettes"
    / "cases"
    / "guidelines-01-sarcomatoid-favorable.yaml"
)


@pytest.fixture(scope="module")
def case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = yaml.safe_load(CASE.read_text())
    on = document.pop("expected")["on"]
    document.pop("xfail_reason", None)
    document["assessment_date"] = on.isoformat()
    path = tmp_path_factory.mktemp("guideline") / "case.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def therapy(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "assess", str(path), "--format", "json", *extra)
    assert code == 0, err
    result: dict[str, Any] = orjson.loads(out)["systemic_therapy"]
    return result


def categories(result: dict[str, Any]) -> dict[str, str]:
    return {o["regimen"]: o["category"] for o in result["options"]}


def test_default_is_the_merged_view(capsys: pytest.CaptureFixture[str], case_file: Path) -> None:
    merged = therapy(capsys, case_file)
    assert merged["guideline_view"] == "all"
    assert merged == therapy(capsys, case_file, "--guideline", "all")
    assert categories(merged)["ipilimumab+nivolumab"] == "certain-circumstances"


def test_nccn_and_eau_views_differ_and_keep_each_other_visible(
    capsys: pytest.CaptureFixture[str], case_file: Path
) -> None:
    nccn = therapy(capsys, case_file, "--guideline", "nccn")
    eau = therapy(capsys, case_file, "--guideline", "EAU")  # case does not matter
    assert (nccn["guideline_view"], eau["guideline_view"]) == ("nccn", "eau")
    # NCCN lists nivolumab + ipilimumab for favourable risk (other, 2B); EAU does not.
    assert categories(nccn)["ipilimumab+nivolumab"] == "other"
    assert "ipilimumab+nivolumab" not in categories(eau)
    set_aside = {e["regimen"]: e for e in eau["excluded"]}
    ipi_nivo = set_aside["ipilimumab+nivolumab"]
    assert {p["guideline"]: p["listing"] for p in ipi_nivo["guideline_positions"]} == {
        "nccn": "other-recommended",
        "eau": "not-recommended",
        "esmo": "not-recommended",
    }
    assert "NCCN lists it" in ipi_nivo["guideline_disagreement"]
    # Sunitinib: NCCN other recommended; EAU only when a checkpoint inhibitor cannot be given.
    assert categories(nccn)["sunitinib"] == "other"
    assert categories(eau)["sunitinib"] == "certain-circumstances"


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_reports_name_the_view_and_each_guideline(
    capsys: pytest.CaptureFixture[str], case_file: Path, fmt: str
) -> None:
    code, out, err = run(capsys, "assess", str(case_file), "--format", fmt, "--guideline", "esmo")
    assert code == 0, err
    assert "Guideline view: ESMO only" in out
    flat = " ".join(out.split())
    assert "NCCN: other recommended (category 2B)" in flat
    assert "ESMO: not recommended" in flat


@pytest.mark.parametrize("value", ["asco", "", "nccn,eau"])
def test_a_bad_guideline_exits_2_naming_the_choices(
    capsys: pytest.CaptureFixture[str], case_file: Path, value: str
) -> None:
    code, out, err = run(capsys, "assess", str(case_file), "--guideline", value)
    assert code == 2
    assert out == ""
    assert "--guideline" in err and "nccn" in err and "eau" in err and "esmo" in err
