"""Assessment to JSON, and the JSON Schemas of what rccnav reads and writes.

orjson serialises the Assessment dataclasses and dates directly. The schemas are
derived from the same classes by pydantic, and copies are committed under
``rccnav/schemas/`` so integrators can read them without running Python; a test keeps
the copies equal to what this module generates (``rccnav schema assessment``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from rccnav.core.assessment import Assessment
from rccnav.core.case import Case

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILES = {"assessment": "assessment.schema.json", "case": "case.schema.json"}


def assessment_to_json(assessment: Assessment, *, indent: bool = False) -> bytes:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(assessment, option=option)


def assessment_to_dict(assessment: Assessment) -> dict[str, Any]:
    """The Assessment as plain JSON types: exactly what ``assessment_to_json`` prints."""
    result: dict[str, Any] = orjson.loads(assessment_to_json(assessment))
    return result


def _with_header(schema: dict[str, Any], title: str, description: str) -> dict[str, Any]:
    return {"$schema": SCHEMA_DIALECT, "title": title, "description": description, **schema}


@lru_cache(maxsize=1)
def _assessment_schema() -> bytes:
    schema = TypeAdapter(Assessment).json_schema(mode="serialization")
    schema.pop("title", None)
    schema.pop("description", None)
    full = _with_header(
        schema,
        "rccnav Assessment",
        "Output of `rccnav assess --format json`: prognosis, recommendations with "
        "reasons and sources, warnings and the knowledge-base version.",
    )
    return orjson.dumps(full)


@lru_cache(maxsize=1)
def _case_schema() -> bytes:
    schema = Case.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    full = _with_header(
        schema,
        "rccnav case file",
        "What rccnav knows about one patient (JSON or YAML). A missing value means "
        "unknown; unknown fields are rejected.",
    )
    return orjson.dumps(full)


def assessment_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(_assessment_schema())
    return schema


def case_json_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads(_case_schema())
    return schema


def schema_text(which: str) -> bytes:
    """The schema as the committed file holds it: indented, newline at the end."""
    schema = assessment_json_schema() if which == "assessment" else case_json_schema()
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def committed_schema_path(which: str) -> Path:
    return Path(str(resources.files("rccnav") / "schemas" / SCHEMA_FILES[which]))


def write_schemas(directory: Path | None = None) -> list[Path]:
    """Regenerate the committed schema files (run after changing Case or Assessment)."""
    written = []
    for which, filename in SCHEMA_FILES.items():
        path = (directory / filename) if directory else committed_schema_path(which)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(schema_text(which))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas():
        print(f"wrote {written_path}")
