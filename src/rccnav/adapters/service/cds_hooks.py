"""CDS Hooks 2.0 endpoints: discovery, patient-view, order-select, order-sign, feedback.

Each hook call runs the same path as the CLI: the prefetched (or fetched) FHIR
resources become one Bundle, the FHIR reader turns it into a Case, ``assess``
produces the Assessment, and ``cards`` presents it. No clinical rule lives here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response

from rccnav.adapters.service.cache import Answer, input_key
from rccnav.adapters.service.cards import OVERRIDE_DISPLAY
from rccnav.adapters.service.compute import CardJob, OrderSpec, Refusal
from rccnav.adapters.service.feedback import FeedbackRecord, StorageError, utc_now
from rccnav.adapters.service.feedback import IssuedCard as IssuedCardRow
from rccnav.adapters.service.models import (
    DiscoveryResponse,
    FeedbackAck,
    FeedbackRequest,
    HookRequest,
    OrderSelectRequest,
    OrderSignRequest,
    PatientViewRequest,
    ServiceDescription,
    operation_outcome,
)
from rccnav.adapters.service.openapi import (
    PROTECTED,
    error_responses,
    json_body,
    json_response,
)
from rccnav.adapters.service.prefetch import (
    PrefetchMismatch,
    PrefetchUnavailable,
    check_patient,
    collection_bundle,
    gather_prefetch,
)
from rccnav.adapters.service.state import ServiceError, ServiceState, log_token, parse_body

log = logging.getLogger("rccnav.service")

PATIENT_VIEW = "rccnav-patient-view"
ORDER_SELECT = "rccnav-order-select"
ORDER_SIGN = "rccnav-order-sign"

USAGE = (
    "For adults with metastatic renal cell carcinoma. Needs the prefetch data, or read "
    "access to fhirServer through fhirAuthorization (Patient, Condition, Observation, "
    "MedicationRequest, MedicationAdministration, MedicationStatement, Procedure); "
    "without either the service answers 412. Decision support only."
)


@dataclass(frozen=True)
class HookService:
    id: str
    hook: str
    title: str
    description: str


SERVICES = (
    HookService(
        PATIENT_VIEW,
        "patient-view",
        "rccnav: metastatic RCC tumour-board questions",
        "IMDC risk (with what is unknown and what would settle it), systemic therapy "
        "for the current line, cytoreductive nephrectomy, metastasectomy, local and "
        "urgent measures (brain metastases, cord compression) and clinical trials, "
        "each with reasons and guideline sources.",
    ),
    HookService(
        ORDER_SELECT,
        "order-select",
        "rccnav: check a systemic therapy being selected for metastatic RCC",
        "Warns when the selected regimen is ineffective, experimental or nonstandard, "
        "does not fit the IMDC risk group or line, or has a checkpoint-inhibitor "
        "contraindication; suggests the recommended alternatives.",
    ),
    HookService(
        ORDER_SIGN,
        "order-sign",
        "rccnav: check a systemic therapy being signed for metastatic RCC",
        "The order-select checks, at signing.",
    ),
)
SERVICE_IDS = frozenset(s.id for s in SERVICES)


def discovery(templates: dict[str, str]) -> DiscoveryResponse:
    return DiscoveryResponse(
        services=[
            ServiceDescription(
                hook=s.hook,
                id=s.id,
                title=s.title,
                description=s.description,
                prefetch=dict(templates),
                usageRequirements=USAGE,
            )
            for s in SERVICES
        ]
    )


EMPTY_CARDS = b'{"cards":[]}'


def _unavailable(exc: PrefetchUnavailable) -> ServiceError:
    outcome = operation_outcome(
        f"Cannot assess: {exc.why}.",
        code="not-found" if "not available" in exc.why else "processing",
        expression=f"prefetch.{exc.key}",
    )
    return ServiceError(412, outcome)


async def _gather_bundle(
    state: ServiceState,
    http: Request,
    request: HookRequest,
    patient_id: str,
    drafts: Sequence[dict[str, Any]],
) -> tuple[dict[str, Any], bytes]:
    """The prefetched and fetched data, with the draft orders, as one Bundle.

    Returned decoded (for the reader) and encoded (the card-cache key), so the Bundle
    is serialised once and never parsed back.
    """
    token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
    try:
        gathered = await gather_prefetch(
            state.templates,
            request.prefetch,
            context={"patientId": patient_id},
            server=request.fhirServer,
            token=token,
            fetcher=state.fetcher,
        )
        orders = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
        check_patient(
            {**gathered.values, "draftOrders": orders}, patient_id, base=request.fhirServer
        )
    except PrefetchUnavailable as exc:
        raise _unavailable(exc) from None
    except PrefetchMismatch as exc:
        raise ServiceError(
            400, operation_outcome(str(exc), expression=f"prefetch.{exc.key}")
        ) from None
    if gathered.fetched:
        state.note(http, fetched=",".join(gathered.fetched))
    bundle = collection_bundle(gathered.values, drafts, base=request.fhirServer)
    return bundle, orjson.dumps(bundle)


async def _answer(
    state: ServiceState,
    http: Request,
    service_id: str,
    gathered: tuple[dict[str, Any], bytes],
    order: OrderSpec | None = None,
) -> Response:
    """Cards for this data: from the cache when the same inputs were assessed before.

    Otherwise read, assess and build the cards off the event loop, within the
    configured time and CPU budget.
    """
    bundle, raw = gathered
    on, lookback = state.assessment_date(), state.config.lookback_days
    key = input_key(service_id, raw, on, lookback)
    answer = state.cache.get(key)
    state.note(http, cache="hit" if answer is not None else "miss")
    if answer is None:
        job = CardJob(raw, on, lookback, order, bundle, state.config.report_url)
        result = await state.assessor.run(job)
        if isinstance(result, Refusal):
            raise ServiceError(result.status, result.outcome)
        assert isinstance(result, Answer)
        answer = result
        state.cache.put(key, answer)
    issued_at = utc_now()
    state.store.note_issued(
        IssuedCardRow(card_uuid, service_id, card_type, issued_at)
        for card_uuid, card_type in answer.cards
    )
    return Response(answer.body, media_type="application/json")


def _draft_medication_requests(
    request: OrderSignRequest | OrderSelectRequest,
) -> list[dict[str, Any]]:
    return [
        e.resource
        for e in request.context.draftOrders.entry
        if e.resource["resourceType"] == "MedicationRequest"
    ]


async def _order_hook(
    state: ServiceState,
    http: Request,
    service_id: str,
    request: OrderSignRequest | OrderSelectRequest,
) -> Response:
    drafts = _draft_medication_requests(request)
    if isinstance(request, OrderSelectRequest) and not any(
        s.startswith("MedicationRequest/") for s in request.context.selections
    ):
        drafts = []
    if not drafts:
        return Response(EMPTY_CARDS, media_type="application/json")
    patient_id = request.context.patientId
    gathered = await _gather_bundle(state, http, request, patient_id, drafts)
    order = OrderSpec(tuple(str(d["id"]) for d in drafts), patient_id)
    return await _answer(state, http, service_id, gathered, order)


def _note_hook(
    state: ServiceState, http: Request, service_id: str, request: HookRequest, patient_id: str
) -> None:
    state.note(
        http,
        service=service_id,
        hookInstance=log_token(request.hookInstance),
        patient=state.correlation_key(patient_id),
    )


def _feedback_records(body: FeedbackRequest) -> list[FeedbackRecord]:
    records: list[FeedbackRecord] = []
    for item in body.feedback:
        reason = item.overrideReason.reason if item.overrideReason else None
        display = None
        if reason is not None:
            display = reason.display or OVERRIDE_DISPLAY.get((reason.system, reason.code))
        records.append(
            FeedbackRecord(
                card_uuid=item.card,
                outcome=item.outcome,
                outcome_timestamp=item.outcomeTimestamp.isoformat(),
                override_system=reason.system if reason else None,
                override_code=reason.code if reason else None,
                override_display=display,
                user_comment=item.overrideReason.userComment if item.overrideReason else None,
                accepted_suggestions=tuple(s.id for s in item.acceptedSuggestions or ()),
            )
        )
    return records


def build_router(state: ServiceState) -> APIRouter:
    router = APIRouter(tags=["CDS Hooks"])
    discovery_body = discovery(state.templates).model_dump_json(exclude_none=True)

    @router.get(
        "/cds-services",
        summary="CDS Hooks discovery",
        openapi_extra=PROTECTED,
        responses={**json_response("DiscoveryResponse"), **error_responses(401)},
    )
    async def discover(request: Request) -> Response:
        await state.authenticate(request)
        return Response(discovery_body, media_type="application/json")

    @router.post(
        f"/cds-services/{PATIENT_VIEW}",
        summary="patient-view: the tumour-board questions for this patient",
        openapi_extra={**PROTECTED, **json_body("PatientViewRequest")},
        responses={
            **json_response("CardsResponse"),
            **error_responses(400, 401, 412, 413, 422, 503),
        },
    )
    async def patient_view(http: Request) -> Response:
        await state.authenticate(http)
        request = parse_body(PatientViewRequest, await http.body())
        patient_id = request.context.patientId
        _note_hook(state, http, PATIENT_VIEW, request, patient_id)
        gathered = await _gather_bundle(state, http, request, patient_id, ())
        return await _answer(state, http, PATIENT_VIEW, gathered)

    @router.post(
        f"/cds-services/{ORDER_SELECT}",
        summary="order-select: check the systemic therapy being selected",
        openapi_extra={**PROTECTED, **json_body("OrderSelectRequest")},
        responses={
            **json_response("CardsResponse"),
            **error_responses(400, 401, 412, 413, 422, 503),
        },
    )
    async def order_select(http: Request) -> Response:
        await state.authenticate(http)
        request = parse_body(OrderSelectRequest, await http.body())
        _note_hook(state, http, ORDER_SELECT, request, request.context.patientId)
        return await _order_hook(state, http, ORDER_SELECT, request)

    @router.post(
        f"/cds-services/{ORDER_SIGN}",
        summary="order-sign: check the systemic therapy being signed",
        openapi_extra={**PROTECTED, **json_body("OrderSignRequest")},
        responses={
            **json_response("CardsResponse"),
            **error_responses(400, 401, 412, 413, 422, 503),
        },
    )
    async def order_sign(http: Request) -> Response:
        await state.authenticate(http)
        request = parse_body(OrderSignRequest, await http.body())
        _note_hook(state, http, ORDER_SIGN, request, request.context.patientId)
        return await _order_hook(state, http, ORDER_SIGN, request)

    @router.post(
        "/cds-services/{service_id}/feedback",
        summary="Feedback on cards: accepted suggestions, overrides and their reasons",
        openapi_extra={**PROTECTED, **json_body("FeedbackRequest")},
        responses={**json_response("FeedbackAck"), **error_responses(400, 401, 404, 413, 503)},
    )
    async def feedback(service_id: str, http: Request) -> Response:
        if service_id not in SERVICE_IDS:
            raise ServiceError(
                404,
                operation_outcome("no such CDS service", code="not-found", expression="service_id"),
            )
        await state.authenticate(http)
        body = parse_body(FeedbackRequest, await http.body())
        state.note(http, service=service_id, feedback=str(len(body.feedback)))
        records = _feedback_records(body)
        try:
            stored = await anyio.to_thread.run_sync(state.store.add_feedback, service_id, records)
        except StorageError as exc:
            log.error("feedback not stored: %s", exc)
            outcome = operation_outcome(
                f"feedback was not stored: {exc}", code="transient", severity="fatal"
            )
            raise ServiceError(503, outcome, {"Retry-After": "30"}) from None
        return Response(FeedbackAck(stored=stored).model_dump_json(), media_type="application/json")

    return router
