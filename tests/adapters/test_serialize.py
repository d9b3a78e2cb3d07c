"""Assessment JSON: the contract keys, the published schemas, and that real output validates."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import orjson
import pytest

from rccnav.adapters.casefile import read_case_file
from rccnav.adapters.intake import Intake, assess_input, read_input
from rccnav.adapters.serialize import (
    SCHEMA_FILES,
    assessment_json_schema,
    assessment_to_dict,
    assessment_to_json,
    case_json_schema,
    committed_schema_path,
    schema_text,
)
from rccnav.core.assessment import Assessment, InputSummary, Warning

GROUPS = {"favorable", "intermediate", "poor"}


@pytest.fixture(scope="module")
def assessments(kb: Any, example_paths: list[Path]) -> list[Assessment]:
    results = []
    for path in example_paths:
        intake = read_input(path.read_bytes(), name=path.name, kb=kb)
        on = intake.case.assessment_date or date.today()
        results.append(assess_input(intake, kb, on))
    return results


@pytest.mark.parametrize("which", sorted(SCHEMA_FILES))
def test_committed_schema_equals_generated(which: str) -> None:
    path = committed_schema_path(which)
    assert path.exists(), f"missing {path}: run `python -m rccnav.adapters.serialize`"
    assert path.read_bytes() == schema_text(which), (
        f"{path.name} is stale: run `python -m rccnav.adapters.serialize` and commit the result"
    )


@pytest.mark.parametrize("schema", [assessment_json_schema, case_json_schema])
def test_schemas_are_valid_json_schema(schema: Any) -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


def test_real_assessments_validate_against_the_schema(assessments: list[Assessment]) -> None:
    validator = jsonschema.Draft202012Validator(assessment_json_schema())
    for assessment in assessments:
        errors = sorted(validator.iter_errors(assessment_to_dict(assessment)), key=str)
        assert errors == [], errors[:3]


def test_schema_rejects_a_broken_assessment(assessments: list[Assessment]) -> None:
    data = assessment_to_dict(assessments[0])
    data["imdc"]["risk_group"] = "very-high"
    del data["systemic_therapy"]
    validator = jsonschema.Draft202012Validator(assessment_json_schema())
    messages = " ".join(e.message for e in validator.iter_errors(data))
    assert "very-high" in messages
    assert "systemic_therapy" in messages


def test_example_case_files_validate_against_the_case_schema(example_paths: list[Path]) -> None:
    validator = jsonschema.Draft202012Validator(case_json_schema())
    assert example_paths, "no bundled example case files found"
    for path in example_paths:
        case = read_case_file(path.read_bytes(), name=path.name)
        validator.validate(case.model_dump(mode="json", exclude_none=True))


def _check_risk(result: dict[str, Any]) -> None:
    assert result["risk_group"] in GROUPS | {None}
    assert set(result["possible_groups"]) <= GROUPS
    assert result["possible_groups"], "at least one group is always possible"
    if result["risk_group"] is not None:
        assert result["possible_groups"] == [result["risk_group"]]
    for factor in result["factors"]:
        assert isinstance(factor["name"], str)
        assert factor["status"] in {"present", "absent", "unknown"}


def test_json_has_the_contract_keys(assessments: list[Assessment]) -> None:
    for assessment in assessments:
        data = orjson.loads(assessment_to_json(assessment, indent=True))
        _check_risk(data["imdc"])
        _check_risk(data["mskcc"])
        imdc_names = {f["name"] for f in data["imdc"]["factors"]}
        assert imdc_names == {
            "performance_status",
            "time_to_treatment",
            "hemoglobin",
            "calcium",
            "neutrophils",
            "platelets",
        }
        assert "ldh" in {f["name"] for f in data["mskcc"]["factors"]}
        therapy = data["systemic_therapy"]
        assert isinstance(therapy["line"], int) and therapy["line"] >= 1
        for key in ("preferred", "other", "certain_circumstances"):
            assert all(isinstance(r, str) for r in therapy[key])
        assert data["cytoreductive_nephrectomy"]["recommendation"] in {
            "consider-upfront",
            "consider-deferred",
            "not-recommended",
            "not-applicable",
            "uncertain",
        }
        assert data["metastasectomy"]["recommendation"] in {
            "consider",
            "not-recommended",
            "not-applicable",
            "uncertain",
        }
        for warning in data["warnings"]:
            assert {"code", "message", "source"} <= set(warning)
        assert data["knowledge_base"]["version"]
        assert data["on"] == assessment.on.isoformat()


def test_dict_is_what_json_prints(assessments: list[Assessment]) -> None:
    assessment = assessments[0]
    assert assessment_to_dict(assessment) == orjson.loads(assessment_to_json(assessment))
    assert assessment_to_json(assessment, indent=True).count(b"\n") > 10
    assert b"\n" not in assessment_to_json(assessment, indent=False)


def test_intake_findings_reach_the_json(kb: Any) -> None:
    case = read_case_file(b"sex: female\n")
    intake = Intake(
        case,
        (Warning("data-quality", "warning", "reader note", source="Observation/x"),),
        ("Observation/y: not used",),
        InputSummary(kind="test", used={"Observation": 1}),
    )
    data = assessment_to_dict(assess_input(intake, kb, date(2026, 11, 1)))
    assert data["warnings"][0]["source"] == "Observation/x"
    assert "Observation/y: not used" in data["ignored_data"]
    assert data["input_summary"]["kind"] == "test"
