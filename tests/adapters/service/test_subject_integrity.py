"""Subject integrity in the service: ``/api/assess`` and CDS Hooks prefetch.

The issue's example: a normal platelet count about someone else, more recent than
the patient's own raised count, must not move the patient from IMDC intermediate
to favourable. ``/api/assess`` sets such data aside with a warning (the same
reader as the CLI); a CDS Hooks prefetch holding data positively about another
patient than ``context.patientId`` is refused with 400 and an OperationOutcome.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from .conftest import (
    LiveServer,
    Tokens,
    hook_request,
    patient_of,
    prefetch_from,
    vignette,
)

PV = "/cds-services/rccnav-patient-view"
NAME = "p02-thrombocytosis"
EHR = "https://ehr.example/fhir"
MRN = {"system": "urn:example:vignette", "value": "p02-thrombocytosis"}


def platelets(subject: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "plt-foreign",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": "2026-10-30",
        "valueQuantity": {
            "value": 250,
            "unit": "10*3/uL",
            "system": "http://unitsofmeasure.org",
            "code": "10*3/uL",
        },
        **(extra or {}),
    }
    if subject is not None:
        resource["subject"] = subject
    return resource


ANOTHER_PATIENT: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "contained other patient",
        {"reference": "#p2"},
        {"contained": [{"resourceType": "Patient", "id": "p2"}]},
    ),
    ("another patient id", {"reference": "Patient/someone-else"}, {}),
    ("absolute URL on another server", {"reference": "https://other.example/fhir/Patient/PID"}, {}),
    ("identifier not the patient's", {"identifier": {**MRN, "value": "p99"}}, {}),
]
UNATTRIBUTED: list[tuple[str, Any]] = [
    ("display only", {"display": "J. Smith"}),
    ("no subject", None),
    ("identifier without system", {"identifier": {"value": MRN["value"]}}),
]


def _subject(subject: Any, pid: str) -> Any:
    if isinstance(subject, dict) and "reference" in subject:
        return {"reference": subject["reference"].replace("PID", pid)}
    return subject


def post(live: LiveServer, tokens: Tokens, path: str, body: bytes) -> httpx.Response:
    with live.client() as client:
        return client.post(
            path,
            content=body,
            headers={**tokens.header(live.url + path), "Content-Type": "application/json"},
        )


@pytest.fixture
def service(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve()


def _record_with(resource: dict[str, Any]) -> bytes:
    document = copy.deepcopy(vignette(NAME))
    document["entry"].append({"resource": resource})
    return orjson.dumps(document)


@pytest.mark.parametrize(
    ("label", "subject", "extra"),
    [*ANOTHER_PATIENT, *((label, s, {}) for label, s in UNATTRIBUTED)],
    ids=[v[0] for v in ANOTHER_PATIENT] + [v[0] for v in UNATTRIBUTED],
)
def test_api_assess_sets_foreign_data_aside(
    service: LiveServer, tokens: Tokens, label: str, subject: Any, extra: dict[str, Any]
) -> None:
    pid = patient_of(vignette(NAME))["id"]
    body = _record_with(platelets(_subject(subject, pid), extra))
    response = post(service, tokens, "/api/assess", body)
    assert response.status_code == 200, response.text[:500]
    result = response.json()
    assert result["imdc"]["risk_group"] == "intermediate", label
    assert any(w["source"] == "Observation/plt-foreign" for w in result["warnings"])


def _prefetch_with(resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bundle = vignette(NAME)
    pid = patient_of(bundle)["id"]
    prefetch = prefetch_from(bundle)
    prefetch["observations"]["entry"].append({"resource": resource, "search": {"mode": "match"}})
    return pid, prefetch


@pytest.mark.parametrize(
    ("label", "subject", "extra"), ANOTHER_PATIENT, ids=[v[0] for v in ANOTHER_PATIENT]
)
def test_prefetch_about_another_patient_is_refused(
    service: LiveServer, tokens: Tokens, label: str, subject: Any, extra: dict[str, Any]
) -> None:
    pid = patient_of(vignette(NAME))["id"]
    pid, prefetch = _prefetch_with(platelets(_subject(subject, pid), extra))
    request = hook_request("patient-view", pid, prefetch=prefetch, fhirServer=EHR)
    response = post(service, tokens, PV, orjson.dumps(request))
    assert response.status_code == 400, (label, response.text[:500])
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert "Observation/plt-foreign" in issue["diagnostics"]
    assert issue["expression"] == ["prefetch.observations"]


@pytest.mark.parametrize(("label", "subject"), UNATTRIBUTED, ids=[v[0] for v in UNATTRIBUTED])
def test_prefetch_data_naming_no_patient_is_not_used(
    service: LiveServer, tokens: Tokens, label: str, subject: Any
) -> None:
    pid, prefetch = _prefetch_with(platelets(subject))
    request = hook_request("patient-view", pid, prefetch=prefetch)
    response = post(service, tokens, PV, orjson.dumps(request))
    assert response.status_code == 200, response.text[:500]
    cards = {c["source"]["topic"]["code"]: c for c in response.json()["cards"]}
    assert "intermediate" in cards["imdc-risk"]["summary"], label


def test_prefetched_patient_must_be_the_one_in_context(service: LiveServer, tokens: Tokens) -> None:
    pid, prefetch = _prefetch_with(platelets({"reference": "Patient/x"}))
    prefetch["patient"] = {**prefetch["patient"], "id": "someone-else"}
    request = hook_request("patient-view", pid, prefetch=prefetch)
    response = post(service, tokens, PV, orjson.dumps(request))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["prefetch.patient"]
