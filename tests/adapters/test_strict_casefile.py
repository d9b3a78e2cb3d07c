"""Strict case files: no type coercion, and the error names the field.

Defect class (issue 7 item 7): a value of the wrong type silently converted into a
clinical fact — ``date: 0`` read as 1970-01-01 (flipping the time-to-treatment
factor), ``"yes"``/``"no"``/``0`` read as booleans (one raised a spinal-cord-compression
emergency), text read as numbers. Each variant below must be refused, naming the field.
YAML 1.1 reads unquoted ``yes``/``no``/``on``/``off`` as booleans; the case-file loader
reads them as text (YAML 1.2), which is then refused where a boolean is needed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from rccnav.adapters.casefile import iso_date, read_case_file
from rccnav.adapters.cli import main
from rccnav.adapters.errors import InputError

TODAY = date(2026, 11, 28)
BASE = """\
case_id: strict-01
diagnosis:
  date: {diagnosis_date}
  histology: clear-cell
  sarcomatoid: {sarcomatoid}
performance:
  kps: {kps}
  date: 2026-11-01
labs:
  hemoglobin: {{value: {hb}, unit: g/dL, low: 13.5, high: 17.5, date: 2026-11-01}}
disease:
  spinal_cord_compression: {cord}
"""
GOOD = {
    "diagnosis_date": "2025-03-01",
    "sarcomatoid": "false",
    "kps": "80",
    "hb": "12.1",
    "cord": "false",
}


def case_text(**changes: str) -> bytes:
    return BASE.format(**{**GOOD, **changes}).encode()


def test_the_base_case_is_valid() -> None:
    case = read_case_file(case_text(), name="case.yaml", today=TODAY)
    assert case.diagnosis.date == date(2025, 3, 1)
    assert case.disease.spinal_cord_compression is False


@pytest.mark.parametrize(
    ("field", "path", "value"),
    [
        ("diagnosis_date", "diagnosis.date", "0"),
        ("diagnosis_date", "diagnosis.date", "1700000000"),
        ("diagnosis_date", "diagnosis.date", '"20250301"'),
        ("diagnosis_date", "diagnosis.date", '"2025-W10-1"'),
        ("diagnosis_date", "diagnosis.date", "2025-03-01 10:30:00"),
        ("diagnosis_date", "diagnosis.date", '"March 2025"'),
        ("diagnosis_date", "diagnosis.date", "true"),
        ("cord", "disease.spinal_cord_compression", "yes"),
        ("cord", "disease.spinal_cord_compression", '"yes"'),
        ("cord", "disease.spinal_cord_compression", "no"),
        ("cord", "disease.spinal_cord_compression", "on"),
        ("cord", "disease.spinal_cord_compression", "0"),
        ("cord", "disease.spinal_cord_compression", "1"),
        ("cord", "disease.spinal_cord_compression", '"true"'),
        ("cord", "disease.spinal_cord_compression", "Y"),
        ("sarcomatoid", "diagnosis.sarcomatoid", "off"),
        ("kps", "performance.kps", '"80"'),
        ("kps", "performance.kps", "80.0"),
        ("kps", "performance.kps", "true"),
        ("hb", "labs.hemoglobin.value", '"12.1"'),
        ("hb", "labs.hemoglobin.value", "false"),
    ],
)
def test_no_type_coercion(field: str, path: str, value: str) -> None:
    with pytest.raises(InputError) as caught:
        read_case_file(case_text(**{field: value}), name="case.yaml", today=TODAY)
    message = str(caught.value)
    assert path in message, message


def test_the_same_holds_in_json() -> None:
    text = b'{"case_id": "j", "diagnosis": {"date": 0, "sarcomatoid": "no"}}'
    with pytest.raises(InputError) as caught:
        read_case_file(text, name="case.json", today=TODAY)
    message = str(caught.value)
    assert "diagnosis.date" in message and "diagnosis.sarcomatoid" in message
    assert "YYYY-MM-DD" in message and "true or false" in message


@pytest.mark.parametrize("text", ["0", "20261101", "2026-W44-7", "2026-11-1", " 2026-11-01", ""])
def test_iso_date_is_exactly_yyyy_mm_dd(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        iso_date(text)


@pytest.mark.parametrize("on", ["0", "20261101"])
def test_cli_on_must_be_an_iso_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], on: str
) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(case_text())
    assert main(["assess", str(path), "--on", on]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
