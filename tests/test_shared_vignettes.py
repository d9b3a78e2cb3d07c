"""The shared clinical vignettes (FHIR Bundles) through the real CLI JSON path.

Each ``../shared/vignettes/NAME.json`` has ``NAME.expected.json`` with the
assessment date and the keys its README defines; only those keys are checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rccnav.adapters.cli import main

VIGNETTES = Path(__file__).resolve().parents[1].parent / "shared" / "vignettes"
CHECKPOINT_AGENTS = ("nivolumab", "pembrolizumab", "ipilimumab", "avelumab", "atezolizumab")


def _vignettes() -> list[Path]:
    return sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))


def _run(path: Path, on: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    status = main(["assess", str(path), "--on", on, "--format", "json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result: dict[str, Any] = json.loads(captured.out)
    return result


def _options(result: dict[str, Any]) -> set[str]:
    therapy = result["systemic_therapy"]
    return {*therapy["preferred"], *therapy["other"], *therapy["certain_circumstances"]}


def _check(result: dict[str, Any], key: str, expected: Any) -> None:
    imdc = result["imdc"]
    therapy = result["systemic_therapy"]
    codes = {w["code"] for w in result["warnings"]}
    if key == "imdc_group":
        assert imdc["risk_group"] == expected
    elif key == "imdc_possible":
        assert set(imdc["possible_groups"]) == set(expected)
    elif key == "imdc_status":
        statuses = {f["name"]: f["status"] for f in imdc["factors"]}
        for name, status in expected.items():
            assert statuses[name] == status, f"{name}: {statuses[name]} != {status}"
    elif key == "mskcc_group":
        assert result["mskcc"]["risk_group"] == expected
    elif key == "line":
        assert therapy["line"] == expected
    elif key == "pref_has":
        assert set(expected) <= set(therapy["preferred"]), therapy["preferred"]
    elif key == "pref_lacks":
        assert not set(expected) & set(therapy["preferred"]), therapy["preferred"]
    elif key == "pref_lacks_ici":
        with_ici = [
            r for r in therapy["preferred"] if any(a in r.split("+") for a in CHECKPOINT_AGENTS)
        ]
        assert bool(with_ici) != expected, with_ici
    elif key == "any_has":
        assert set(expected) <= _options(result)
    elif key == "cn":
        assert result["cytoreductive_nephrectomy"]["recommendation"] == expected
    elif key == "mets":
        assert result["metastasectomy"]["recommendation"] == expected
    elif key == "warn_has":
        assert set(expected) <= codes, codes
    elif key == "warn_lacks":
        assert not set(expected) & codes, codes
    else:
        pytest.fail(f"unknown expectation key {key!r}")


@pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")
@pytest.mark.parametrize("path", _vignettes(), ids=lambda p: p.stem)
def test_shared_vignette(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    result = _run(path, spec["on"], capsys)
    for key, expected in spec["expect"].items():
        _check(result, key, expected)
