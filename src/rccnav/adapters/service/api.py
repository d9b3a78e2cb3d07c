"""JSON API: ``POST /api/assess`` (what ``rccnav assess --format json`` prints)
and ``GET /api/kb`` (knowledge-base version and review report)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from rccnav.adapters.service.compute import AssessJob, Refusal
from rccnav.adapters.service.models import operation_outcome
from rccnav.adapters.service.openapi import PROTECTED, REF, error_responses, json_response
from rccnav.adapters.service.state import ServiceError, ServiceState
from rccnav.core.assessment import GuidelineViewName
from rccnav.knowledge.model import KnowledgeBase

_CASE = {"$ref": REF.format(model="CaseOrBundle")}
ASSESS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _CASE},
            "application/fhir+json": {"schema": _CASE},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def _kb_document(kb: KnowledgeBase, fmt: str) -> bytes:
    from rccnav.knowledge.report import render_report

    return orjson.dumps(
        {
            "version": kb.version,
            "checksum": kb.checksum,
            "format": fmt,
            "report": render_report(kb, fmt),
        }
    )


def _assessment_date(on: str | None) -> date | None:
    """``on`` strictly as YYYY-MM-DD (never a number of seconds since 1970)."""
    from rccnav.adapters.casefile import iso_date

    if on is None:
        return None
    try:
        return iso_date(on)
    except ValueError as exc:
        raise ServiceError(400, operation_outcome(str(exc), expression="on")) from None


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["JSON API"])
    kb_documents: dict[str, bytes] = {}

    @router.post(
        "/assess",
        summary="Assess one patient from a case file (JSON/YAML) or a FHIR R4 Bundle",
        description="The body is what `rccnav assess FILE` reads; the answer is what "
        "`rccnav assess FILE --format json` prints. `on` is the assessment date (default: "
        "the case file's assessment_date, else today).",
        openapi_extra={**PROTECTED, **ASSESS_BODY},
        responses={**json_response("Assessment"), **error_responses(400, 401, 413, 503)},
    )
    async def assess(
        http: Request,
        on: Annotated[
            str | None,
            Query(description="Assessment date, YYYY-MM-DD", pattern=r"^\d{4}-\d{2}-\d{2}$"),
        ] = None,
        lookback_days: Annotated[int | None, Query(ge=1, le=36500)] = None,
        guideline: Annotated[
            GuidelineViewName,
            Query(
                description="Whose listing the systemic-therapy options follow: all (NCCN, "
                "EAU and ESMO merged; default), nccn, eau or esmo (`rccnav assess --guideline`)"
            ),
        ] = "all",
    ) -> Response:
        await state.authenticate(http)
        on_date = _assessment_date(on)
        raw = await http.body()
        lookback = lookback_days if lookback_days is not None else state.config.lookback_days
        job = AssessJob(raw, on_date, state.assessment_date(), lookback, guideline)
        result = await state.assessor.run(job)
        if isinstance(result, Refusal):
            raise ServiceError(result.status, result.outcome)
        assert isinstance(result, bytes)
        state.note(http, service="api-assess")
        return Response(result, media_type="application/json")

    @router.get(
        "/kb",
        summary="Knowledge-base version, checksum and the review report",
        openapi_extra=PROTECTED,
        responses={**json_response("KnowledgeBaseReport"), **error_responses(401)},
    )
    async def knowledge_base(
        http: Request,
        format: Annotated[str, Query(pattern="^(markdown|html)$")] = "markdown",
    ) -> Response:
        await state.authenticate(http)
        if format not in kb_documents:
            kb_documents[format] = _kb_document(state.kb, format)
        return Response(kb_documents[format], media_type="application/json")

    return router
