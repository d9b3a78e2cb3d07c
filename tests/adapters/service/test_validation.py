"""Strict validation of hook requests (400 + OperationOutcome naming the field),
body size limit (413), overload (503) and unknown services (404), over HTTP."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from .conftest import (
    DOCS_HOOKS,
    SPEC,
    Documents,
    LiveServer,
    Tokens,
    hook_request,
    load_json,
)

PV = "/cds-services/rccnav-patient-view"
SIGN = "/cds-services/rccnav-order-sign"
SELECT = "/cds-services/rccnav-order-select"


@pytest.fixture
def secured(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(limits={"max_body_bytes": 64 * 1024})


def post(live: LiveServer, tokens: Tokens, path: str, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    with live.client() as client:
        return client.post(
            path,
            content=content,
            headers={**tokens.header(live.url + path), "Content-Type": "application/json"},
        )


def expressions(response: httpx.Response) -> list[str]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert response.headers["content-type"].startswith("application/fhir+json")
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


def draft_med(rid: str = "draft-1", status: str = "draft") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"text": "sunitinib"},
        "subject": {"reference": "Patient/1288992"},
    }


def draft_orders(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b"\xff\xfe"])
def test_malformed_json_is_400(secured: LiveServer, tokens: Tokens, body: bytes) -> None:
    response = post(secured, tokens, PV, body)
    assert response.status_code == 400
    assert expressions(response)


def test_spec_request_without_patient_id_names_the_field(
    secured: LiveServer, tokens: Tokens
) -> None:
    """The spec's extension example has no context.patientId, which patient-view requires."""
    body = load_json(SPEC / "request-with-extension.json")
    response = post(secured, tokens, PV, body)
    assert response.status_code == 400
    assert "context.patientId" in expressions(response)


def test_a_retired_hook_is_refused(secured: LiveServer, tokens: Tokens) -> None:
    """medication-prescribe (STU3) is not one of our hooks."""
    body = {
        "hook": "medication-prescribe",
        "hookInstance": "x",
        **load_json(DOCS_HOOKS / "medication-prescribe-request-STU3.json"),
    }
    response = post(secured, tokens, SIGN, body)
    assert response.status_code == 400
    found = expressions(response)
    assert "hook" in found
    assert "context.medications" in found  # not an order-sign context field
    assert "context.draftOrders" in found


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hook="order-sign"), "hook"),
        (lambda b: b.update(hookInstance=7), "hookInstance"),
        (lambda b: b["context"].update(patientId="has spaces"), "context.patientId"),
        (lambda b: b["context"].update(userId="Device/1"), "context.userId"),
        (lambda b: b["context"].update(patientId=1288992), "context.patientId"),
        (lambda b: b.update(fhirServer="ftp://x"), "fhirServer"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b.update(hookInstance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea\n"), "hookInstance"),
        (lambda b: b.update(prefetch={"patient": {"id": "x"}}), "prefetch.patient"),
        (lambda b: b.update(prefetch={"patient": []}), "prefetch.patient"),
        (
            lambda b: b.update(
                fhirAuthorization={
                    "access_token": "t",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "s",
                }
            ),
            "(body)",
        ),
        (
            lambda b: b.update(
                fhirServer="https://ehr.example.org/fhir",
                fhirAuthorization={
                    "access_token": "t",
                    "token_type": "MAC",
                    "expires_in": 300,
                    "scope": "s",
                    "subject": "s",
                },
            ),
            "fhirAuthorization.token_type",
        ),
    ],
)
def test_patient_view_fields_are_checked(
    secured: LiveServer, tokens: Tokens, change: Callable[[dict[str, Any]], Any], field: str
) -> None:
    body = hook_request("patient-view", "1288992")
    change(body)
    response = post(secured, tokens, PV, body)
    assert response.status_code == 400, response.text
    assert field in expressions(response)


def test_order_sign_needs_draft_orders(secured: LiveServer, tokens: Tokens) -> None:
    response = post(secured, tokens, SIGN, hook_request("order-sign", "1288992"))
    assert response.status_code == 400
    assert "context.draftOrders" in expressions(response)


def test_draft_medication_requests_must_be_drafts(secured: LiveServer, tokens: Tokens) -> None:
    body = hook_request(
        "order-sign", "1288992", context={"draftOrders": draft_orders(draft_med(status="active"))}
    )
    response = post(secured, tokens, SIGN, body)
    assert response.status_code == 400
    assert "context.draftOrders" in expressions(response)
    assert "status" in response.text


def test_order_select_selections_must_be_in_draft_orders(
    secured: LiveServer, tokens: Tokens
) -> None:
    body = hook_request(
        "order-select",
        "1288992",
        context={
            "draftOrders": draft_orders(draft_med()),
            "selections": ["MedicationRequest/not-there"],
        },
    )
    response = post(secured, tokens, SELECT, body)
    assert response.status_code == 400
    assert "context" in expressions(response)


def test_spec_order_examples_without_hook_wrapper_are_400(
    secured: LiveServer, tokens: Tokens
) -> None:
    """The docs' order-select/order-sign examples are bare contexts: no hook, no hookInstance."""
    for name, path in (
        ("order-select-request-R4.json", SELECT),
        ("order-sign-request-R4.json", SIGN),
    ):
        response = post(secured, tokens, path, load_json(DOCS_HOOKS / name))
        assert response.status_code == 400
        found = expressions(response)
        assert "hook" in found and "hookInstance" in found


def test_order_without_medication_requests_is_silent(secured: LiveServer, tokens: Tokens) -> None:
    """A diet order is not ours to check: no cards, and no data needed to say so."""
    nutrition = load_json(DOCS_HOOKS / "order-sign-request-R4.json")["context"]["draftOrders"]
    nutrition["entry"] = [
        e for e in nutrition["entry"] if e["resource"]["resourceType"] == "NutritionOrder"
    ]
    body = hook_request("order-sign", "1288992", context={"draftOrders": nutrition})
    response = post(secured, tokens, SIGN, body)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_error_responses_never_echo_patient_values(secured: LiveServer, tokens: Tokens) -> None:
    body = hook_request("patient-view", "1288992")
    body["context"]["patientId"] = "Jane Doe 1961-04-02"
    response = post(secured, tokens, PV, body)
    assert response.status_code == 400
    assert "Jane" not in response.text


# -- size limit ----------------------------------------------------------------------


def test_oversized_body_is_413(secured: LiveServer, tokens: Tokens) -> None:
    body = hook_request("patient-view", "1288992")
    body["extension"] = {"org.example.padding": "x" * (70 * 1024)}
    response = post(secured, tokens, PV, body)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


def test_oversized_streamed_body_is_413(secured: LiveServer, tokens: Tokens) -> None:
    """No Content-Length (chunked): the limit is enforced while reading."""

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    with secured.client() as client:
        response = client.post(PV, content=chunks(), headers=tokens.header(secured.url + PV))
    assert response.status_code == 413


def test_oversized_body_is_refused_before_authentication(secured: LiveServer) -> None:
    with secured.client() as client:
        response = client.post(PV, content=b"x" * (70 * 1024))
    assert response.status_code == 413


# -- 404 and 503 -------------------------------------------------------------------------


def test_feedback_for_an_unknown_service_is_404(secured: LiveServer, tokens: Tokens) -> None:
    path = "/cds-services/no-such-service/feedback"
    response = post(secured, tokens, path, load_json(SPEC / "feedback-accepted.json"))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_path_is_404(secured: LiveServer, tokens: Tokens) -> None:
    response = post(secured, tokens, "/cds-services/nope", {})
    assert response.status_code in {404, 405}


def test_overload_is_a_clean_503(
    serve: Callable[..., LiveServer], tokens: Tokens, documents: Documents
) -> None:
    """With one slot, a second hook call while the first waits on the FHIR server gets 503."""
    slow = documents.url + "/fhir"
    documents.put("/fhir/Patient/1288992", {"resourceType": "Patient", "id": "1288992"}, delay=1.5)
    live = serve(
        limits={"max_concurrent_requests": 1},
        fhir_client={"allow_http": True, "timeout_seconds": 5, "allowed_servers": [slow]},
    )
    results: dict[str, int] = {}

    def first() -> None:
        body = hook_request("patient-view", "1288992", fhirServer=slow)
        results["first"] = post(live, tokens, PV, body).status_code

    thread = threading.Thread(target=first)
    thread.start()
    while documents.hits.get("/fhir/Patient/1288992", 0) == 0:
        threading.Event().wait(0.01)
    second = post(live, tokens, PV, hook_request("patient-view", "1288992"))
    thread.join()
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert second.json()["issue"][0]["code"] == "throttled"
    # The first call was served (here: 412, the slow server has only a Patient).
    assert results["first"] == 412
    with live.client() as client:
        assert client.get("/healthz").status_code == 200


def test_hook_requests_are_not_mutated_by_validation() -> None:
    from rccnav.adapters.service.models import PatientViewRequest

    body = hook_request(
        "patient-view",
        "1288992",
        prefetch={"patient": {"resourceType": "Patient", "id": "1288992"}},
    )
    before = copy.deepcopy(body)
    PatientViewRequest.model_validate_json(orjson.dumps(body))
    assert body == before
