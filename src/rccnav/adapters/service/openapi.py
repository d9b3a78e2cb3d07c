"""The OpenAPI document at ``/openapi.json``.

Handlers read their bodies themselves (strict pydantic validation straight from
the JSON bytes, errors as OperationOutcome), so request and response schemas are
declared here and added to ``components.schemas`` once, from the same pydantic
models the handlers use, plus the Assessment schema the CLI publishes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rccnav.adapters.service.models import (
    CardsResponse,
    DiscoveryResponse,
    FeedbackAck,
    FeedbackRequest,
    OrderSelectRequest,
    OrderSignRequest,
    PatientViewRequest,
)

REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "cdsHooksJwt"
PROTECTED: dict[str, Any] = {"security": [{SECURITY_SCHEME: []}]}

_REQUESTS: tuple[type[BaseModel], ...] = (
    PatientViewRequest,
    OrderSelectRequest,
    OrderSignRequest,
    FeedbackRequest,
)
_RESPONSES: tuple[type[BaseModel], ...] = (CardsResponse, DiscoveryResponse, FeedbackAck)

OPERATION_OUTCOME: dict[str, Any] = {
    "title": "OperationOutcome",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

CASE_OR_BUNDLE: dict[str, Any] = {
    "title": "CaseOrBundle",
    "description": "An rccnav case file (see `rccnav schema case`) or a FHIR R4 Bundle "
    "or resource; the format is detected.",
    "type": "object",
}
KB_REPORT: dict[str, Any] = {
    "title": "KnowledgeBaseReport",
    "type": "object",
    "required": ["version", "checksum", "format", "report"],
    "properties": {
        "version": {"type": "string"},
        "checksum": {"type": "string"},
        "format": {"enum": ["markdown", "html"]},
        "report": {"type": "string", "description": "The review document"},
    },
}

_ERROR_TEXT = {
    400: "Malformed request: the OperationOutcome names each bad field",
    401: "Not authenticated (bare response, no body)",
    404: "No such CDS service",
    412: "Required FHIR data neither prefetched nor fetchable from fhirServer",
    413: "Request body too large",
    422: "The FHIR data or case file cannot be used (OperationOutcome says why)",
    503: "At capacity: retry after the Retry-After delay",
}


def json_body(
    schema_name: str, *, media_types: tuple[str, ...] = ("application/json",)
) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=schema_name)}
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": schema} for media in media_types},
        }
    }


def json_response(schema_name: str, description: str = "OK") -> dict[int | str, Any]:
    return {
        200: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": REF.format(model=schema_name)}}},
        }
    }


def error_responses(*statuses: int) -> dict[int | str, Any]:
    out: dict[int | str, Any] = {}
    for status in statuses:
        if status == 401:
            out[status] = {"description": _ERROR_TEXT[status]}
            continue
        out[status] = {
            "description": _ERROR_TEXT[status],
            "content": {
                "application/fhir+json": {"schema": {"$ref": REF.format(model="OperationOutcome")}}
            },
        }
    return out


def _hoist(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move a JSON Schema's ``$defs`` into components and point its refs there."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                    out[key] = REF.format(model=value.removeprefix("#/$defs/"))
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    for name, definition in (schema.pop("$defs", None) or {}).items():
        components.setdefault(name, rewrite(definition))
    schema.pop("$schema", None)
    result: dict[str, Any] = rewrite(schema)
    return result


def _component_schemas() -> dict[str, Any]:
    from rccnav.adapters.serialize import assessment_json_schema

    models = [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _RESPONSES]
    _, top = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    components: dict[str, Any] = dict(top.get("$defs", {}))
    components["OperationOutcome"] = OPERATION_OUTCOME
    components["CaseOrBundle"] = CASE_OR_BUNDLE
    components["KnowledgeBaseReport"] = KB_REPORT
    components["Assessment"] = _hoist(assessment_json_schema(), components)
    return components


def install(app: FastAPI, *, description: str) -> None:
    """Replace ``app.openapi`` with one that adds our schemas and the JWT scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=description, routes=app.routes
        )
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(_component_schemas())
        components["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "CDS Hooks client JWT: aud is the URL called (CDS Hooks 2.0)",
            }
        }
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
