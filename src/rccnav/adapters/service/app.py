"""The FastAPI application: CDS Hooks service and JSON API over the one ``assess``.

``create_app(config)`` builds everything up front (knowledge base, feedback
store, FHIR client, JWT verifier) so a broken configuration fails at start-up,
not at the first patient. Requests pass, outermost first: CORS (if configured),
the guard (overload 503, body limit 413, access log, last-resort 500), then the
routes.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from rccnav import __version__
from rccnav.adapters.service import api, cds_hooks, openapi
from rccnav.adapters.service.auth import JwtVerifier
from rccnav.adapters.service.cache import AnswerCache
from rccnav.adapters.service.compute import Assessor, warm_up
from rccnav.adapters.service.config import ConfigError, ServiceConfig
from rccnav.adapters.service.feedback import FeedbackStore, StorageError
from rccnav.adapters.service.fhir_client import FhirFetcher
from rccnav.adapters.service.middleware import (
    ASGIApp,
    GuardMiddleware,
    Message,
    Receive,
    Scope,
    Send,
    send_json,
)
from rccnav.adapters.service.models import operation_outcome
from rccnav.adapters.service.prefetch import observation_codes, prefetch_templates
from rccnav.adapters.service.readiness import readiness
from rccnav.adapters.service.state import ServiceError, ServiceState, Unauthorized
from rccnav.knowledge.model import KnowledgeBase

log = logging.getLogger("rccnav.service")

INSECURE_WARNING = (
    "AUTHENTICATION DISABLED (--insecure-no-auth): any caller can use this service. "
    "For local development only; never expose it to a network or to patient data."
)

DESCRIPTION = (
    "Guideline-based decision support for metastatic renal cell carcinoma as HL7 CDS Hooks "
    "2.0 services and a JSON API. Calls need a CDS Hooks client JWT (Bearer) whose `aud` "
    "is the URL called. Decision support only: not a substitute for clinical judgement."
)

FHIR_JSON = "application/fhir+json"


def _outcome_response(
    status: int, outcome: dict[str, object], headers: dict[str, str] | None = None
) -> Response:
    import orjson

    return Response(
        orjson.dumps(outcome), status_code=status, media_type=FHIR_JSON, headers=headers
    )


def _install_error_handlers(app: FastAPI) -> None:
    async def service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return _outcome_response(exc.status, exc.outcome, exc.headers)

    async def unauthorized(_: Request, exc: Exception) -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = "not-found" if exc.status_code == 404 else "processing"
        outcome = operation_outcome(str(exc.detail), code=code)  # type: ignore[arg-type]
        return _outcome_response(exc.status_code, outcome, dict(exc.headers or {}))

    async def invalid_parameters(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        issues = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            issues.append(
                {
                    "severity": "error",
                    "code": "invalid",
                    "diagnostics": f"{where}: {error.get('msg', 'invalid')}",
                    "expression": [where],
                }
            )
        return _outcome_response(400, {"resourceType": "OperationOutcome", "issue": issues})

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_parameters)


class _LastResort:
    """Answer an unexpected exception with a 500 OperationOutcome.

    Only the exception type and the code locations are logged: an exception's
    message can quote patient data. It is not re-raised, so the server never
    logs it either.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("internal error %s at\n%s", type(exc).__name__, frames)
            if started or scope["type"] != "http":
                return
            outcome = operation_outcome(
                "internal error; it has been logged", code="exception", severity="fatal"
            )
            await send_json(send, 500, outcome, [])


def load_kb(config: ServiceConfig) -> KnowledgeBase:
    from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base

    return load_knowledge_base(config.kb_dir) if config.kb_dir else default_knowledge_base()


def check_settings(config: ServiceConfig) -> None:
    """Refuse settings the service must not start with (before any worker starts)."""
    if not config.insecure_no_auth and not config.auth.issuers:
        raise ConfigError(
            "no trusted CDS Clients: add [[auth.issuers]] to the config, or pass "
            "--insecure-no-auth for local development"
        )
    if not config.insecure_no_auth and config.public_base_url is None:
        raise ConfigError(
            "public_base_url is not set: with authentication on, the JWT aud must be "
            "checked against the URL clients call, never the Host header they send. Set "
            'public_base_url (e.g. public_base_url = "http://127.0.0.1:8080" for loopback)'
        )


def check_storage(config: ServiceConfig) -> None:
    """Open (and create) the feedback store once, so a storage fault stops the start."""
    try:
        FeedbackStore(config.feedback_db).close()
    except StorageError as exc:
        raise ConfigError(str(exc)) from None


def build_state(
    config: ServiceConfig,
    *,
    kb: KnowledgeBase | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
) -> ServiceState:
    check_settings(config)
    verifier = None if config.insecure_no_auth else JwtVerifier(config.auth)
    knowledge = kb or load_kb(config)
    try:
        store = FeedbackStore(config.feedback_db)
    except StorageError as exc:
        raise ConfigError(str(exc)) from None
    return ServiceState(
        config=config,
        kb=knowledge,
        verifier=verifier,
        fetcher=FhirFetcher(config.fhir_client, transport=fhir_transport),
        store=store,
        salt=ServiceState.salt_from(config),
        templates=prefetch_templates(observation_codes()),
        cache=AnswerCache(config.limits.card_cache_entries),
        assessor=Assessor(knowledge, config.limits, str(config.kb_dir) if config.kb_dir else None),
    )


def create_app(
    config: ServiceConfig,
    *,
    kb: KnowledgeBase | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The application for ``config``; ``kb`` and ``fhir_transport`` are for tests."""
    state = build_state(config, kb=kb, fhir_transport=fhir_transport)
    # httpx logs every URL it requests at INFO, and a FHIR search URL names the patient.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if config.insecure_no_auth:
        log.warning(INSECURE_WARNING)
    # Units, terminology and the knowledge base's look-ups are built now, so the first
    # call is as fast as the hundredth; worker processes do the same when they start.
    warm_up(state.kb)
    state.assessor.start()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.fetcher.aclose()
            state.store.close()
            state.assessor.close()

    app = FastAPI(
        title="rccnav",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = state
    _install_error_handlers(app)
    app.include_router(cds_hooks.build_router(state))
    app.include_router(api.build_router(state))

    @app.get(
        "/healthz",
        summary="Liveness: answers without touching the knowledge base",
        tags=["operations"],
    )
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get(
        "/readyz",
        summary="Readiness: the feedback store is writable and every issuer's keys are at hand",
        tags=["operations"],
        responses={503: {"description": "Not ready; `checks` says which check failed and why"}},
    )
    async def readyz() -> Response:
        checks = await readiness(state)
        ready = all(c["ok"] for c in checks.values())
        body = orjson.dumps({"status": "ready" if ready else "not-ready", "checks": checks})
        return Response(body, status_code=200 if ready else 503, media_type="application/json")

    openapi.install(app, description=DESCRIPTION)
    auth_note = "DISABLED(insecure-no-auth)" if config.insecure_no_auth else "jwt"
    # Starlette wraps in reverse order of adding: the last added is outermost.
    app.add_middleware(_LastResort)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=config.limits.max_body_bytes,
        max_work=config.limits.max_concurrent_requests,
        max_feedback=config.limits.max_concurrent_feedback,
        auth_note=auth_note,
        authenticate=None if state.verifier is None else state.authenticate_scope,
        body_timeout=config.limits.body_timeout_seconds,
    )
    if config.cors.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors.allow_origins),
            allow_methods=list(config.cors.allow_methods),
            allow_headers=list(config.cors.allow_headers),
            max_age=config.cors.max_age_seconds,
        )
    return app


CONFIG_ENVIRONMENT = "RCCNAV_SERVICE_CONFIG"


def configure_logging(level: str) -> None:
    """The service's log lines on stderr, each with its process id (one per worker)."""
    import sys

    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )


def app_from_environment() -> FastAPI:
    """Application factory for worker processes (``rccnav serve --workers N``).

    The parent validated the settings and passes them as JSON in the environment, so
    every worker runs exactly the configuration the command line resolved.
    """
    import gc
    import os

    config = ServiceConfig.model_validate_json(os.environ[CONFIG_ENVIRONMENT])
    # Each worker is a fresh process: without this its access log and auth refusals
    # would go nowhere.
    configure_logging(config.log_level)
    app = create_app(config)
    gc.collect()
    gc.freeze()
    return app
