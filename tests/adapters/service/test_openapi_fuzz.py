"""schemathesis against the published /openapi.json: no 5xx, and the responses
match what the document says (status codes, content types, schemas).

Bounded (few examples per operation, derandomized) so the suite stays fast. Each
generated call carries a fresh valid JWT so it reaches the handlers (and
schemathesis checks that broken credentials get 401); a fhirServer in a generated
request is never called (none is allow-listed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from .conftest import LiveServer, Tokens, create_app, service_config, start_server

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    config = service_config(
        tmp_path_factory.mktemp("fuzz"),
        fhir_client={
            "allow_http": True,
            "timeout_seconds": 1,
            "allowed_servers": ["http://127.0.0.1:9/fhir"],
        },
    )
    live = start_server(create_app(config))
    yield live
    live.stop()


OPERATIONS = [
    ("GET", "/cds-services"),
    ("POST", "/cds-services/rccnav-patient-view"),
    ("POST", "/cds-services/rccnav-order-select"),
    ("POST", "/cds-services/rccnav-order-sign"),
    ("POST", "/cds-services/{service_id}/feedback"),
    ("POST", "/api/assess"),
    ("GET", "/api/kb"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
]


@pytest.fixture(scope="module")
def api_schema(fuzz_target: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{fuzz_target.url}/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_conforms_and_never_fails(
    api_schema: Any, fuzz_target: LiveServer, tokens: Tokens, method: str, path: str
) -> None:
    # schemathesis's own pytest loader does not run under pytest 9, so the
    # generated cases are driven by hypothesis directly.
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        # A fresh valid JWT per call (aud = the URL called); schemathesis also
        # replays calls with broken credentials and expects 401.
        url = fuzz_target.url + case.formatted_path
        response = case.call_and_validate(
            base_url=fuzz_target.url,
            headers=tokens.header(url),
            # The handlers check more than a schema can say (a draft order must be a
            # draft, selections must be among draftOrders, a body must be a case or a
            # Bundle), so schema-valid data may still rightly get 400.
            excluded_checks=[positive_data_acceptance],
        )
        assert response.status_code < 500

    run()


def test_every_documented_operation_is_fuzzed(api_schema: Any) -> None:
    documented = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


def test_openapi_documents_every_endpoint(fuzz_target: LiveServer) -> None:
    with fuzz_target.client() as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/cds-services",
        "/cds-services/rccnav-patient-view",
        "/cds-services/rccnav-order-select",
        "/cds-services/rccnav-order-sign",
        "/cds-services/{service_id}/feedback",
        "/api/assess",
        "/api/kb",
        "/healthz",
    ):
        assert path in paths, path
    schemas = document["components"]["schemas"]
    for name in ("PatientViewRequest", "CardsResponse", "Assessment", "OperationOutcome"):
        assert name in schemas
    assert document["components"]["securitySchemes"]["cdsHooksJwt"]["scheme"] == "bearer"
