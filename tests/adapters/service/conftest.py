"""Fixtures for the service tests: a real uvicorn server on a loopback port, JWTs
signed with the CDS Hooks spec's published example key, a loopback JWKS/utility
HTTP server, and a real FHIR server (sekmet-fhir) loaded with the vignettes.

The spec fixtures are read in place from ``../shared/fixtures/external/cds-hooks``.
"""

from __future__ import annotations

import copy
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from rccnav.adapters.service.app import create_app
from rccnav.adapters.service.cli import uvicorn_options
from rccnav.adapters.service.config import IssuerConfig, ServiceConfig

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"
CDS_FIXTURES = SHARED / "fixtures" / "external" / "cds-hooks"
SPEC = CDS_FIXTURES / "hl7-cds-hooks-spec"
DOCS_HOOKS = CDS_FIXTURES / "cds-hooks-docs-hooks"
VIGNETTES = SHARED / "vignettes"

#: The issuer in the spec's example JWT payload; its key is the spec's example key.
SPEC_ISSUER = "https://fhir-ehr.example.com/"
SPEC_KID = "example-kid"
#: The vignettes' expected answers are for this date.
ON = date(2026, 11, 1)
#: Spec examples name this patient; the FHIR server gets a vignette under this id.
SPEC_PATIENT = "1288992"


def _present(path: Path) -> Path:
    if SHARED in path.parents and not path.exists():
        # A clone without ../shared beside it: the test skips (CI refuses to start instead).
        pytest.skip(f"shared fixture not found: {path}")
    return path


def load_json(path: Path) -> Any:
    return orjson.loads(_present(path).read_bytes())


def load_text(path: Path) -> str:
    return _present(path).read_text()


def spec_private_jwk() -> dict[str, Any]:
    data: dict[str, Any] = load_json(SPEC / "jwk-private-example.json")
    return data


def spec_jwks() -> dict[str, Any]:
    data: dict[str, Any] = load_json(SPEC / "jwks-public.json")
    return data


def vignette_names() -> list[str]:
    return sorted(p.stem for p in VIGNETTES.glob("p*.json") if not p.stem.endswith(".expected"))


def vignette(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(VIGNETTES / f"{name}.json")
    return data


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(VIGNETTES / f"{name}.expected.json")
    return data


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with free_socket() as sock:
        port: int = sock.getsockname()[1]
    return port


# -- JWTs ------------------------------------------------------------------


class Tokens:
    """Signs CDS Hooks client JWTs; every token gets a fresh jti unless told."""

    def __init__(
        self, private_jwk: dict[str, Any], *, iss: str = SPEC_ISSUER, kid: str = SPEC_KID
    ) -> None:
        self.key = jwt.PyJWK(private_jwk).key
        self.alg = private_jwk.get("alg", "ES384")
        self.iss = iss
        self.kid = kid

    def make(
        self,
        aud: str | list[str],
        *,
        iss: str | None = None,
        lifetime: int = 300,
        issued_ago: int = 0,
        jti: str | None = None,
        headers: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        key: Any = None,
        alg: str | None = None,
    ) -> str:
        now = int(time.time()) - issued_ago
        claims: dict[str, Any] = {
            "iss": iss or self.iss,
            "aud": aud,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or str(uuid.uuid4()),
            "tenant": "test-tenant",
        }
        for name in drop:
            claims.pop(name, None)
        header = {"kid": self.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, key or self.key, algorithm=alg or self.alg, headers=header)

    def header(self, url: str, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.make(url, **kwargs)}"}


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens(spec_private_jwk())


# -- the service under test ------------------------------------------------


#: Loopback sockets bound for a configuration's public_base_url before the app exists.
_RESERVED: dict[int, socket.socket] = {}


def reserve_url() -> str:
    """A loopback base URL whose port is held until a server is started on it.

    The service checks the JWT ``aud`` against ``public_base_url``, so the port must
    be known when the configuration is written, before the server starts.
    """
    sock = free_socket()
    port: int = sock.getsockname()[1]
    _RESERVED[port] = sock
    return f"http://127.0.0.1:{port}"


def service_config(tmp: Path, **overrides: Any) -> ServiceConfig:
    """Test settings: spec issuer, loopback public URL, assessment in threads."""
    base: dict[str, Any] = {
        "auth": {"issuers": [IssuerConfig(iss=SPEC_ISSUER, jwks=spec_jwks())]},
        "feedback_db": tmp / "feedback.sqlite3",
        "assessment_date": ON,
        "log_salt": "test-salt",
        "fhir_client": {"allow_http": True, "timeout_seconds": 5.0},
    }
    limits = {"assess_processes": 0, **overrides.pop("limits", {})}
    base.update(overrides)
    base["limits"] = limits
    if "public_base_url" not in base:
        base["public_base_url"] = reserve_url()
    return ServiceConfig.model_validate(base)


@dataclass
class LiveServer:
    app: FastAPI
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "server did not stop"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def _socket_for(app: FastAPI) -> socket.socket:
    """The socket reserved for the app's public_base_url, if it is a loopback URL."""
    public = app.state.service.config.public_base_url
    prefix = "http://127.0.0.1:"
    if public is None or not public.startswith(prefix):
        return free_socket()
    port = int(public[len(prefix) :].split("/", 1)[0])
    reserved = _RESERVED.pop(port, None)
    if reserved is not None:
        return reserved
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # a configuration used again (a restart)
    return sock


def start_server(app: FastAPI) -> LiveServer:
    """uvicorn on a loopback port, in a thread, as `rccnav serve` runs it."""
    sock = _socket_for(app)
    port = sock.getsockname()[1]
    options = uvicorn_options(app.state.service.config)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=options["http"],
        timeout_keep_alive=options["timeout_keep_alive"],
        limit_concurrency=options["limit_concurrency"],
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return LiveServer(app, f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a service with config overrides; stopped at the end of the test."""
    started: list[LiveServer] = []

    def run(config: ServiceConfig | None = None, **overrides: Any) -> LiveServer:
        live = start_server(create_app(config or service_config(tmp_path, **overrides)))
        started.append(live)
        return live

    yield run
    for live in started:
        if live.thread.is_alive():
            live.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, fhir_base: str) -> Iterator[LiveServer]:
    """One authenticated service for a test module, allowed to call the loopback FHIR server."""
    tmp = tmp_path_factory.mktemp("service")
    config = service_config(
        tmp,
        fhir_client={"allow_http": True, "timeout_seconds": 5.0, "allowed_servers": [fhir_base]},
    )
    server = start_server(create_app(config))
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


# -- a loopback HTTP helper (JWKS documents, slow or failing endpoints) ----------


class Documents:
    """Serves ``routes[path] = (status, body, delay_seconds)`` on a loopback port."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, float]] = {}
        self.hits: dict[str, int] = {}
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                hits[path] = hits.get(path, 0) + 1
                status, body, delay = routes.get(path, (404, b"{}", 0.0))
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, body: Any, status: int = 200, delay: float = 0.0) -> str:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        self.routes[path] = (status, raw, delay)
        return self.url + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def documents() -> Iterator[Documents]:
    docs = Documents()
    yield docs
    docs.close()


# -- a real FHIR server on loopback ------------------------------------------


def as_transaction(bundle: dict[str, Any], patient_id: str | None = None) -> dict[str, Any]:
    """A vignette Bundle as a PUT transaction (optionally under another Patient id)."""
    out = copy.deepcopy(bundle)
    out["type"] = "transaction"
    for entry in out["entry"]:
        resource = entry["resource"]
        if patient_id and resource["resourceType"] == "Patient":
            resource["id"] = patient_id
        elif patient_id:  # a copy: its resources must not overwrite the original's
            resource["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{patient_id}/{resource['id']}"))
        entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    return out


def _wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"FHIR server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("FHIR server did not start")


@pytest.fixture(scope="session")
def fhir_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """sekmet-fhir (SQLite) on a loopback port, loaded with every vignette.

    Each vignette is stored under its own Patient id, and vignette p01 also under
    the spec examples' patient id 1288992.
    """
    pytest.importorskip("sekmet")
    home = tmp_path_factory.mktemp("sekmet")
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "base_url": base,
        "host": "127.0.0.1",
        "port": port,
        "data_dir": str(home / "data"),
        "validation": {"inbound": "off"},
        "simulator": {"enabled": False},
        "log_inbound": False,
    }
    (home / "settings.yaml").write_bytes(orjson.dumps(settings))
    env = {**os.environ, "SEKMET_CONFIG": str(home / "settings.yaml")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sekmet.cli import app; app()",
            "serve",
            "--config",
            str(home / "settings.yaml"),
        ],
        cwd=home,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"{base}/metadata", proc)
        with httpx.Client(timeout=30) as http_client:
            loads = [as_transaction(vignette(n)) for n in vignette_names()]
            loads.append(as_transaction(vignette("p01-favorable-si"), SPEC_PATIENT))
            for bundle in loads:
                response = http_client.post(
                    base,
                    content=orjson.dumps(bundle),
                    headers={"Content-Type": "application/fhir+json"},
                )
                assert response.status_code == 200, response.text[:500]
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- building hook requests ----------------------------------------------------

PREFETCH_KEYS = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
    "MedicationStatement": "medicationStatements",
    "Procedure": "procedures",
}


def patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return resource


def prefetch_from(bundle: dict[str, Any], *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Split a vignette Bundle into our prefetch keys, as an EHR would answer them.

    References to the Patient are written as ``Patient/<id>`` (an EHR's search
    results never carry the vignette's ``urn:uuid`` references).
    """
    patient = patient_of(bundle)
    pid = patient["id"]
    urn = {e.get("fullUrl") for e in bundle["entry"] if e["resource"] is patient} - {None}
    raw = orjson.dumps(bundle).decode()
    for ref in urn:
        raw = raw.replace(f'"{ref}"', f'"Patient/{pid}"')
    data = orjson.loads(raw)
    prefetch: dict[str, Any] = {"patient": patient_of(data)}
    searches: dict[str, list[dict[str, Any]]] = {key: [] for key in PREFETCH_KEYS.values()}
    for entry in data["entry"]:
        resource = entry["resource"]
        key = PREFETCH_KEYS.get(resource["resourceType"])
        if key is not None:
            searches[key].append({"resource": resource, "search": {"mode": "match"}})
    for key, entries in searches.items():
        prefetch[key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(entries),
            "entry": entries,
        }
    for key in skip:
        prefetch.pop(key, None)
    return prefetch


def hook_request(
    hook: str, patient_id: str, *, prefetch: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    context.update(extra.pop("context", {}))
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body
