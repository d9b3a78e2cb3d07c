"""FHIR output validated against the official R4 JSON Schema (an independent validator).

The schema (tests/adapters/fhir/data/, origin in its README) checks every element name,
type, cardinality and required element of every resource in the ``--format fhir`` Bundle;
fhir.resources and the fhirpathpy invariants are checked elsewhere.
"""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft6Validator

from rccnav.adapters.fhir.writer import assessment_to_bundle
from rccnav.adapters.intake import assess_input, read_input
from rccnav.knowledge.loader import default_knowledge_base

SCHEMA = Path(__file__).with_name("data") / "fhir.schema.json.gz"
SCHEMA_SHA256 = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
VIGNETTES = Path(__file__).resolve().parents[3].parent / "shared" / "vignettes"
FILES = sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))
ON = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@cache
def _schema() -> dict[str, Any]:
    raw = gzip.decompress(SCHEMA.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "not the vendored R4 schema"
    schema: dict[str, Any] = orjson.loads(raw)
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    return schema


@cache
def _validator(resource_type: str | None) -> Draft6Validator:
    """The whole schema (any resource), or one resource's definition (readable errors)."""
    schema = _schema()
    if resource_type is None:
        return Draft6Validator(schema)
    assert resource_type in schema["definitions"], resource_type
    ref = {"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]}
    return Draft6Validator(ref)


def _problems(resource: dict[str, Any], *, whole: bool = False) -> list[str]:
    validator = _validator(None if whole else resource["resourceType"])
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in validator.iter_errors(resource)
    ]


def test_the_schema_catches_what_r4_forbids() -> None:
    # The check can fail: an unknown element, a wrong type and a missing required element.
    group = {"resourceType": "RequestGroup", "status": "draft", "intent": "proposal"}
    assert not _problems(group)
    assert _problems({**group, "action": [{"resources": {"reference": "x"}}]})  # no such element
    assert _problems({**group, "action": [{"resource": {"reference": 1}}]})  # not a string
    assert _problems({**group, "note": "text"})  # note is a list of Annotation
    no_subject = {"resourceType": "MedicationRequest", "status": "draft", "intent": "proposal"}
    assert _problems(no_subject) and _problems(no_subject, whole=True)
    assert _problems({"resourceType": "Patient", "gender": 3})
    assert _problems({"resourceType": "Patient", "colour": "blue"}, whole=True)
    assert not _problems({"resourceType": "Patient", "gender": "female"}, whole=True)


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_fhir_output_is_valid_r4(path: Path) -> None:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=ON, kb=kb)
    bundle = assessment_to_bundle(assess_input(intake, kb, ON), intake, now=NOW)
    # Each resource on its own first (readable messages), then the Bundle as a whole.
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert not _problems(resource), (resource["resourceType"], _problems(resource))
    assert not _problems(bundle, whole=True)
