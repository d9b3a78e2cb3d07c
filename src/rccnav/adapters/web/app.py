"""The clinician page as a FastAPI router, and the loopback app ``rccnav web`` runs.

:func:`web_router` holds only the page and its JSON endpoints; whoever mounts it
decides who may reach it. :func:`create_web_app` is the stand-alone app for one
clinician's laptop: it answers only requests addressed to a loopback host name and
only with the random token printed at start-up (given once in the URL, then kept
in an HttpOnly, SameSite=Strict cookie), as Jupyter does, so other local users and
web pages cannot read or drive it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rccnav.adapters.errors import InputError
from rccnav.adapters.intake import Intake, assess_input, read_input
from rccnav.adapters.web.form import FormValue, case_to_form, form_to_case
from rccnav.adapters.web.views import Views, static_text
from rccnav.core.assess import assess
from rccnav.core.assessment import GuidelineViewName, InputSummary, Warning
from rccnav.core.case import Case
from rccnav.knowledge.model import KnowledgeBase

COOKIE = "rccnav_web_token"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
STATIC = {"web.css": "text/css; charset=utf-8", "web.js": "text/javascript; charset=utf-8"}
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SECURITY_HEADERS = {
    # Every asset comes from this app: no CDN, no inline script, no framing.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WarningIn(_Body):
    code: str
    severity: str = Field(pattern="^(info|warning|critical)$")
    message: str
    source: str | None = None
    rule: str | None = None
    sources: list[str] = []


class SummaryIn(_Body):
    kind: str
    used: dict[str, int] = {}
    unused: dict[str, int] = {}


class FileNotes(_Body):
    """What the reader noticed in a loaded file, kept by the page between updates."""

    name: str
    warnings: list[WarningIn] = []
    ignored: list[str] = []
    summary: SummaryIn


class AssessRequest(_Body):
    form: dict[str, FormValue]
    file: FileNotes | None = None
    #: Whose listing the options follow (``rccnav assess --guideline``).
    guideline: GuidelineViewName = "all"


def _notes(intake: Intake, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "warnings": [
            {
                "code": w.code,
                "severity": w.severity,
                "message": w.message,
                "source": w.source,
                "rule": w.rule,
                "sources": list(w.sources),
            }
            for w in intake.warnings
        ],
        "ignored": list(intake.ignored),
        "summary": {
            "kind": intake.summary.kind,
            "used": intake.summary.used,
            "unused": intake.summary.unused,
        },
    }


def _intake(case: Case, notes: FileNotes | None) -> Intake:
    if notes is None:
        return Intake(case, (), (), InputSummary(kind="form"))
    warnings = tuple(
        Warning(
            code=w.code,
            severity=w.severity,  # type: ignore[arg-type]  # checked by the pattern
            message=w.message,
            source=w.source,
            rule=w.rule,
            sources=tuple(w.sources),
        )
        for w in notes.warnings
    )
    summary = InputSummary(
        kind=f"{notes.summary.kind}, edited in the form",
        used=notes.summary.used,
        unused=notes.summary.unused,
    )
    return Intake(case, warnings, tuple(notes.ignored), summary)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


def web_router(kb: KnowledgeBase, *, today: Callable[[], date] = date.today) -> APIRouter:
    """The page, its static files and its two JSON endpoints (no access control)."""
    views = Views(kb)
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        day = today()
        return HTMLResponse(views.page(assess(Case(), kb, day), day), headers=SECURITY_HEADERS)

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = STATIC.get(name)
        if media is None:
            return _error(404, "no such file")
        return Response(static_text(name), media_type=media, headers=SECURITY_HEADERS)

    @router.post("/api/assess")
    async def assess_form(request: Request) -> JSONResponse:
        try:
            body = AssessRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"]))
            return _error(422, f"malformed request at {where or 'body'}: {first['msg']}")
        day = today()
        checked = form_to_case(body.form, day)
        if checked.case is None:
            problems = [{"field": p.field, "message": p.message} for p in checked.problems]
            return JSONResponse({"problems": problems}, status_code=422, headers=SECURITY_HEADERS)
        on = checked.case.assessment_date or day
        assessment = assess_input(
            _intake(checked.case, body.file), kb, on, guideline=body.guideline
        )
        return JSONResponse(
            {
                "on": on.isoformat(),
                "results": views.results(assessment),
                "summary": views.summary(assessment, day),
            },
            headers=SECURITY_HEADERS,
        )

    @router.post("/api/intake")
    async def intake(request: Request, on: Annotated[date | None, Query()] = None) -> JSONResponse:
        name = unquote(request.headers.get("x-file-name", "uploaded file"))[:200]
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            return _error(413, f"{name}: larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB")
        raw = await request.body()
        if len(raw) > MAX_UPLOAD_BYTES:
            return _error(413, f"{name}: larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB")
        day = on or today()
        try:
            read = read_input(raw, name=name, on=day, kb=kb, today=today())
        except InputError as exc:
            return _error(422, str(exc))
        # The form shows the date the file was read as of, so later updates agree.
        case = (
            read.case
            if read.case.assessment_date
            else read.case.model_copy(update={"assessment_date": day})
        )
        values, sources = case_to_form(case)
        return JSONResponse(
            {"form": values, "sources": sources, "file": _notes(read, name), "on": day.isoformat()},
            headers=SECURITY_HEADERS,
        )

    return router


def _loopback_host(request: Request) -> bool:
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_NAMES


Call = Callable[[Request], Awaitable[Response]]


def create_web_app(kb: KnowledgeBase, token: str) -> FastAPI:
    """The loopback-only, token-guarded app behind ``rccnav web``."""
    app = FastAPI(title="rccnav clinician page", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def guard(request: Request, call_next: Call) -> Response:
        # A page on another site may point a browser at 127.0.0.1 (DNS rebinding):
        # only requests that name a loopback host are answered.
        if not _loopback_host(request):
            return _error(403, "this page answers only on 127.0.0.1")
        given = request.query_params.get("token")
        if given is not None and request.method == "GET":
            if not secrets.compare_digest(given, token):
                return _error(403, "wrong access token: use the URL rccnav web printed")
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="strict", path="/", secure=False
            )
            return response
        cookie = request.cookies.get(COOKIE, "")
        if not secrets.compare_digest(cookie.encode(), token.encode()):
            return _error(403, "open the URL that rccnav web printed (it carries the access token)")
        origin = request.headers.get("origin")
        if (
            request.method != "GET"
            and origin is not None
            and origin != f"{request.url.scheme}://{request.headers.get('host')}"
        ):
            return _error(403, "requests from other sites are refused")
        return await call_next(request)

    app.include_router(web_router(kb))
    return app


def new_token() -> str:
    return secrets.token_urlsafe(32)
