"""Hostile bodies to ``POST /api/assess``: 400 or 413 with an OperationOutcome.

The same generated corpus as the CLI test (``tests/adapters/hostile.py``); the service
must never answer 500 ("internal error") or hang on any of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..hostile import Hostile, corpus
from .conftest import LiveServer, Tokens


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from .conftest import create_app, service_config, start_server

    live = start_server(create_app(service_config(tmp_path_factory.mktemp("hostile"))))
    yield live
    live.stop()


@pytest.mark.parametrize("item", [i for i in corpus() if i.service], ids=lambda i: i.name)
def test_hostile_bodies_are_refused(service: LiveServer, tokens: Tokens, item: Hostile) -> None:
    content_type = "application/yaml" if item.name.endswith(".yaml") else "application/json"
    path = "/api/assess"
    with service.client() as client:
        response = client.post(
            path,
            content=item.data,
            headers={**tokens.header(service.url + path), "Content-Type": content_type},
        )
    assert response.status_code in (400, 413), (response.status_code, response.text[:300])
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "internal" not in response.text.lower()


@pytest.mark.parametrize("on", ["0", "20261101", "2026-13-01", "yesterday", "1e3"])
def test_assessment_date_must_be_an_iso_date(service: LiveServer, tokens: Tokens, on: str) -> None:
    body = b"case_id: x\ndiagnosis: {date: 2025-01-01}\n"
    path = "/api/assess"
    with service.client() as client:
        response = client.post(
            path,
            params={"on": on},
            content=body,
            headers={**tokens.header(service.url + path), "Content-Type": "application/yaml"},
        )
    assert response.status_code == 400, response.text[:300]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "on" in str(outcome["issue"][0].get("expression"))


def test_assessment_before_the_diagnosis_is_400(service: LiveServer, tokens: Tokens) -> None:
    body = b"case_id: x\ndiagnosis: {date: 2026-06-01, histology: clear-cell}\n"
    path = "/api/assess"
    with service.client() as client:
        response = client.post(
            path,
            params={"on": "2026-05-01"},
            content=body,
            headers={**tokens.header(service.url + path), "Content-Type": "application/yaml"},
        )
    assert response.status_code == 400, response.text[:300]
    assert "before the RCC diagnosis" in response.json()["issue"][0]["diagnostics"]
