"""Case-file parsing: each rejection names the field and the problem; YAML 1.1 quirks stay out."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rccnav.adapters.casefile import read_case_file
from rccnav.adapters.cli import main
from rccnav.adapters.errors import InputError
from rccnav.adapters.intake import Intake, read_input
from rccnav.core.assessment import InputSummary
from rccnav.core.case import Case, Histology

TODAY = date(2026, 11, 28)


def reject(text: str | bytes, name: str = "case.yaml") -> str:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(InputError) as caught:
        read_case_file(raw, name=name, today=TODAY)
    return str(caught.value)


# ------------------------------------------------------------- each bad-input rule
# (message fragment the error must contain, file name, content)
BAD_INPUTS = [
    pytest.param(
        "line 3, column",
        "bad.yaml",
        "labs:\n  hemoglobin: {value: 1, unit: g/dL\n",
        id="yaml-syntax",
    ),
    pytest.param("line 2, column", "bad.json", '{"case_id": "x",\n  "sex": }', id="json-syntax"),
    pytest.param(
        "labs.hemoglobn",
        "typo.yaml",
        "labs:\n  hemoglobn: {value: 12, unit: g/dL}\n",
        id="unknown-field",
    ),
    pytest.param(
        "labs.hemoglobin.value",
        "type.yaml",
        "labs:\n  hemoglobin: {value: high, unit: g/dL}\n",
        id="wrong-type",
    ),
    pytest.param("performance.kps", "kps.yaml", "performance: {kps: 75}\n", id="kps-not-tens"),
    pytest.param(
        "diagnosis.date", "future.yaml", "diagnosis: {date: 2999-01-01}\n", id="future-date"
    ),
    pytest.param(
        "disease.metastases[0].lesions",
        "neg.yaml",
        "disease:\n  metastases:\n    - {site: lung, lesions: -2}\n",
        id="negative-count",
    ),
    pytest.param("empty", "empty.yaml", "  \n", id="empty-file"),
    pytest.param(
        "top level must be a mapping", "list.yaml", "- lung\n- bone\n", id="not-a-mapping"
    ),
    pytest.param(
        "labs.hemoglobin.unit",
        "unit.yaml",
        "labs:\n  hemoglobin: {value: 12}\n",
        id="missing-field",
    ),
    pytest.param("duplicate key", "dup.yaml", "sex: male\nsex: female\n", id="duplicate-key-yaml"),
    pytest.param(
        "case_id: duplicate key",
        "dup.json",
        '{"case_id": "a", "case_id": "b"}',
        id="duplicate-key-json",
    ),
    pytest.param(
        "diagnosis.histology", "hist.yaml", "diagnosis: {histology: clearcell}\n", id="bad-enum"
    ),
    pytest.param(
        "second YAML document", "two.yaml", "sex: male\n---\nsex: female\n", id="two-documents"
    ),
    pytest.param(
        "not a valid date", "date.yaml", "diagnosis: {date: 2024-13-01}\n", id="impossible-date"
    ),
]


@pytest.mark.parametrize(("fragment", "name", "content"), BAD_INPUTS)
def test_bad_input_is_rejected_with_the_field_named(fragment: str, name: str, content: str) -> None:
    message = reject(content, name)
    assert fragment in message
    assert name in message


@pytest.mark.parametrize(("fragment", "name", "content"), BAD_INPUTS)
def test_cli_exits_2_and_names_the_field(
    fragment: str,
    name: str,
    content: str,
    write_case: Callable[[str, str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_case(name, content)
    assert main(["assess", str(path), "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("rccnav: error: ")
    assert fragment in captured.err
    assert "Traceback" not in captured.err


def test_unknown_field_suggests_the_closest_name() -> None:
    message = reject("diagnosis:\n  histolgy: clear-cell\n")
    assert "did you mean 'histology'" in message
    assert "line 2" in message


def test_unknown_top_level_field_lists_what_is_allowed() -> None:
    message = reject("performence: {kps: 80}\n")
    assert "did you mean 'performance'" in message
    assert "allowed:" in message


def test_every_problem_is_reported_at_once() -> None:
    message = reject("performance: {kps: 75}\nlabs:\n  platelets: {value: 300}\n")
    assert "2 problems" in message
    assert "performance.kps" in message
    assert "labs.platelets.unit" in message


def test_kps_message_explains_the_rule() -> None:
    assert "multiple of 10" in reject("performance: {kps: 85}\n")


def test_json_validation_errors_carry_line_numbers() -> None:
    message = reject('{\n  "labs": {\n    "albumin": {"value": 4}\n  }\n}', "case.json")
    assert "labs.albumin.unit (line 3)" in message


def test_future_date_is_relative_to_today_not_to_assessment_date() -> None:
    text = (
        "diagnosis: {date: 2026-11-01}\n"
        "labs:\n  hemoglobin: {value: 12, unit: g/dL, date: 2026-11-27}\n"
    )
    case = read_case_file(text.encode(), today=TODAY)
    assert case.labs.hemoglobin is not None
    message = reject(text.replace("2026-11-27", "2026-11-29"))
    assert "labs.hemoglobin.date" in message


def test_data_after_the_assessment_date_is_not_an_error() -> None:
    text = b"labs:\n  hemoglobin: {value: 12, unit: g/dL, date: 2026-11-20}\n"
    intake = read_input(text, name="case.yaml", on=date(2026, 1, 1), today=TODAY)
    assert intake.case.labs.hemoglobin is not None


def test_planned_start_may_be_in_the_future() -> None:
    case = read_case_file(
        b"proposed_therapy: {agents: [sunitinib], planned_start: 2999-01-01}\n", today=TODAY
    )
    assert case.proposed_therapy is not None
    assert case.proposed_therapy.planned_start == date(2999, 1, 1)


def test_not_utf8_is_rejected() -> None:
    assert "UTF-8" in reject(b"\xff\xfe\x00garbage")


def test_comment_only_file_is_rejected() -> None:
    assert "no data" in reject("# nothing here\n")


def test_case_id_is_never_echoed_in_errors() -> None:
    message = reject("case_id: [Jane Doe]\n")
    assert "case_id" in message
    assert "Jane" not in message


# ------------------------------------------------------------------ YAML quirks


def test_yaml_dates_become_dates() -> None:
    case = read_case_file(b"diagnosis: {date: 2025-02-03}\n", today=TODAY)
    assert case.diagnosis.date == date(2025, 2, 3)


@pytest.mark.parametrize("word", ["no", "yes", "on", "off", "NO", "y", "n"])
def test_yaml_11_booleans_stay_strings(word: str) -> None:
    case = read_case_file(f"case_id: {word}\n".encode(), today=TODAY)
    assert case.case_id == word


def test_yaml_sexagesimal_stays_a_string() -> None:
    assert read_case_file(b"case_id: 1:30\n", today=TODAY).case_id == "1:30"


def test_yaml_true_false_are_booleans() -> None:
    case = read_case_file(b"primary_tumour: {in_place: true, bleeding: false}\n", today=TODAY)
    assert case.primary_tumour.in_place is True
    assert case.primary_tumour.bleeding is False


def test_yaml_numbers_keep_their_value() -> None:
    text = b"labs:\n  platelets: {value: 0310, unit: 10*9/L}\n  ldh: {value: 2.5e2, unit: U/L}\n"
    case = read_case_file(text, today=TODAY)
    assert case.labs.platelets is not None and case.labs.platelets.value == 310  # not octal 200
    assert case.labs.ldh is not None and case.labs.ldh.value == 250


def test_yaml_flow_mapping_starting_with_brace_is_read_as_yaml() -> None:
    case = read_case_file(b"{sex: female, diagnosis: {histology: papillary}}", today=TODAY)
    assert case.diagnosis.histology is Histology.PAPILLARY


def test_json_and_yaml_give_the_same_case(example_paths: list[Path]) -> None:
    for path in example_paths:
        from_yaml = read_case_file(path.read_bytes(), name=path.name)
        as_json = orjson.dumps(from_yaml.model_dump(mode="json", exclude_none=True))
        assert read_case_file(as_json, name="same.json") == from_yaml


def test_examples_are_valid_case_files(example_paths: list[Path]) -> None:
    for path in example_paths:
        case = read_case_file(path.read_bytes(), name=path.name)
        assert isinstance(case, Case)
        assert case.assessment_date is not None, f"{path.name}: examples pin their date"


# ------------------------------------------------------------------- robustness


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_give_a_case_or_an_input_error(raw: bytes) -> None:
    try:
        read_case_file(raw, name="fuzz.yaml", today=TODAY)
    except InputError as exc:
        assert str(exc)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=False), st.text(max_size=8)
)
_FIELDS = st.sampled_from(
    [
        "case_id",
        "sex",
        "diagnosis",
        "performance",
        "labs",
        "disease",
        "kps",
        "hemoglobin",
        "lesions",
    ]
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.dictionaries(_FIELDS, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_FIELDS, _TREES, max_size=5))
def test_arbitrary_structures_give_a_case_or_an_input_error(data: dict[str, Any]) -> None:
    try:
        read_case_file(orjson.dumps(data), name="fuzz.json", today=TODAY)
    except InputError as exc:
        assert "fuzz.json" in str(exc)


# ------------------------------------------------------------------ FHIR routing


def _fake_reader(calls: list[dict[str, Any]]) -> types.ModuleType:
    module = types.ModuleType("rccnav.adapters.fhir.reader")

    def read_fhir(data: bytes, **kwargs: Any) -> Intake:
        calls.append({"data": data, **kwargs})
        return Intake(Case(), (), (), InputSummary(kind="fhir"))

    module.read_fhir = read_fhir  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("bundle.json", b'{"resourceType": "Bundle", "type": "collection", "entry": []}'),
        ("patient.json", b'{"resourceType": "Patient", "id": "p"}'),
        (
            "export.ndjson",
            b'{"resourceType": "Patient", "id": "p"}\n{"resourceType": "Observation"}\n',
        ),
        (
            "export.txt",
            b'{"resourceType": "Patient", "id": "p"}\n{"resourceType": "Observation"}\n',
        ),
        ("bundle.yaml", b"resourceType: Bundle\ntype: collection\nentry: []\n"),
    ],
)
def test_fhir_input_goes_to_the_fhir_reader(
    name: str, raw: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb: Any = object()  # a sentinel: the reader must receive the caller's knowledge base
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "rccnav.adapters.fhir.reader", _fake_reader(calls))
    intake = read_input(raw, name=name, on=date(2026, 1, 2), lookback_days=30, kb=kb)
    assert intake.summary.kind == "fhir"
    assert len(calls) == 1
    call = calls[0]
    assert call["name"] == name
    assert call["on"] == date(2026, 1, 2)
    assert call["lookback_days"] == 30
    assert call["kb"] is kb
    # Bytes, or the document the case-file reader already decoded (no second parse).
    assert (b"resourceType" if isinstance(call["data"], bytes) else "resourceType") in call["data"]


def test_case_files_do_not_go_to_the_fhir_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "rccnav.adapters.fhir.reader", _fake_reader(calls))
    intake = read_input(b"sex: female\n", name="case.yaml", today=TODAY)
    assert calls == []
    assert intake.summary.kind == "case-file (yaml)"


def test_missing_fhir_reader_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the module did not exist.
    monkeypatch.setitem(sys.modules, "rccnav.adapters.fhir.reader", None)
    with pytest.raises(InputError, match="FHIR input is not available"):
        read_input(b'{"resourceType": "Bundle"}', name="b.json")


def test_json_fhir_input_is_not_composed_as_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk Bundle must not pay for PyYAML: only case files are located line by line."""
    from rccnav.adapters import casefile

    def slow_path(text: str) -> None:
        raise AssertionError("YAML compose used for FHIR JSON")

    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "rccnav.adapters.fhir.reader", _fake_reader(calls))
    monkeypatch.setattr(casefile, "_compose_node", slow_path)
    read_input(b'{"resourceType": "Bundle", "entry": []}', name="b.json", kb=object())  # type: ignore[arg-type]
    assert len(calls) == 1
