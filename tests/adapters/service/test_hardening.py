"""Hostile clients on loopback: slow senders, heavy calls, SSRF, storage faults, JWT claims.

Every test drives a real uvicorn server (as ``rccnav serve`` runs it) over real
sockets. No test asserts a timing: each asserts what happens (status, which
connections a listener saw, whether a call was served while another ran).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from rccnav.adapters.service import compute
from rccnav.adapters.service.config import FhirClientConfig
from rccnav.adapters.service.fhir_client import FetchError, _same_base, check_server

from .conftest import (
    SPEC_PATIENT,
    Documents,
    LiveServer,
    Tokens,
    hook_request,
    prefetch_from,
    service_config,
    vignette,
)

PV = "/cds-services/rccnav-patient-view"


def post(live: LiveServer, tokens: Tokens, path: str, body: Any) -> httpx.Response:
    with live.client() as client:
        return client.post(
            path,
            content=orjson.dumps(body),
            headers={**tokens.header(live.url + path), "Content-Type": "application/json"},
        )


def valid_patient_view() -> dict[str, Any]:
    bundle = vignette("p01-favorable-si")
    patient_id = bundle["entry"][0]["resource"]["id"]
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            patient_id = entry["resource"]["id"]
    return hook_request("patient-view", patient_id, prefetch=prefetch_from(bundle))


def _address(live: LiveServer) -> tuple[str, int]:
    host, port = live.url.removeprefix("http://").split(":")
    return host, int(port)


def open_slow_body(
    live: LiveServer, path: str, headers: dict[str, str], length: int
) -> socket.socket:
    """A POST whose head is complete and whose body has only begun (1 byte of ``length``)."""
    sock = socket.create_connection(_address(live), timeout=10)
    lines = [f"POST {path} HTTP/1.1", f"Host: {live.url.removeprefix('http://')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {length}"]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n{").encode())
    return sock


def status_of(sock: socket.socket) -> int:
    """The status code of the response on ``sock`` (0 if closed without one)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split(b" ", 2)[1])


# -- item 1: slow clients never hold work slots -------------------------------------------


def test_slow_body_sockets_do_not_turn_valid_calls_into_503(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    """70 sockets trickling bodies (half with valid tokens) against 8 work slots."""
    live = serve(limits={"max_concurrent_requests": 8, "body_timeout_seconds": 60})
    anonymous: list[socket.socket] = []
    signed: list[socket.socket] = []
    try:
        for i in range(70):
            if i % 2:
                signed.append(open_slow_body(live, PV, tokens.header(live.url + PV), 10_000))
            else:
                anonymous.append(open_slow_body(live, PV, {}, 10_000))
        # The unauthenticated ones are refused from their headers, body unread.
        assert [status_of(s) for s in anonymous] == [401] * len(anonymous)
        body = valid_patient_view()
        statuses = [post(live, tokens, PV, body).status_code for _ in range(10)]
        assert statuses == [200] * 10
        # The authenticated slow senders are still waiting for their body deadline.
        for sock in signed:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in anonymous + signed:
            sock.close()


def test_an_authenticated_slow_body_gets_408_at_its_deadline(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    live = serve(limits={"body_timeout_seconds": 1})
    sock = open_slow_body(live, PV, tokens.header(live.url + PV), 10_000)
    try:
        sock.settimeout(0.2)
        status = 0
        for _ in range(100):  # a byte every 0.2 s, far beyond the 1 s deadline
            try:
                status = status_of(sock)
                break
            except TimeoutError:
                sock.sendall(b" ")
        assert status == 408
    finally:
        sock.close()


def test_a_slow_request_head_is_closed(serve: Callable[..., LiveServer]) -> None:
    """One header byte at a time never completes a head: the server hangs up."""
    live = serve(limits={"keep_alive_seconds": 1})
    sock = socket.create_connection(_address(live), timeout=0.3)
    closed = False
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(60):  # up to ~18 s of trickling
            try:
                sock.sendall(b"X")
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    finally:
        sock.close()
    assert closed


def test_an_oversized_request_head_is_closed(serve: Callable[..., LiveServer]) -> None:
    live = serve()
    sock = socket.create_connection(_address(live), timeout=5)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        with pytest.raises(OSError):
            for _ in range(200):
                sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
            while sock.recv(65536):
                pass
            raise ConnectionResetError  # the server closed the connection cleanly
    finally:
        sock.close()


# -- item 1: assessment off the event loop -------------------------------------------------


def test_health_and_readiness_answer_while_an_assessment_runs(
    serve: Callable[..., LiveServer], tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The assessment is held mid-way: /healthz and /readyz must still answer."""
    started, release = threading.Event(), threading.Event()
    real = compute._run

    def held(kb: Any, job: Any) -> Any:
        started.set()
        release.wait(60)
        return real(kb, job)

    monkeypatch.setattr(compute, "_run", held)
    live = serve()
    result: dict[str, int] = {}

    def heavy() -> None:
        result["status"] = post(live, tokens, PV, valid_patient_view()).status_code

    thread = threading.Thread(target=heavy)
    thread.start()
    try:
        assert started.wait(30)
        with httpx.Client(base_url=live.url, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["storage"]["ok"] is True
        assert thread.is_alive()  # answered while the assessment was still running
    finally:
        release.set()
        thread.join(60)
    assert result["status"] == 200


def _alias_bomb(levels: int = 9) -> bytes:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    previous = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = name
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_a_costly_input_costs_one_worker_not_the_service(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    """A YAML alias bomb runs in a worker process with a 1 s CPU budget and a memory cap."""
    live = serve(limits={"assess_processes": 1, "assess_cpu_seconds": 1, "assess_memory_mb": 1024})
    result: dict[str, httpx.Response] = {}

    def bomb() -> None:
        with live.client() as client:
            result["bomb"] = client.post(
                "/api/assess",
                content=_alias_bomb(),
                headers={
                    **tokens.header(live.url + "/api/assess"),
                    "Content-Type": "application/yaml",
                },
            )

    thread = threading.Thread(target=bomb)
    thread.start()
    with live.client() as client:
        assert client.get("/healthz").status_code == 200
    thread.join(120)
    response = result["bomb"]
    # Refused by an input limit (400/413) or stopped by the budget (503): never a hang.
    assert response.status_code in {400, 413, 503}, response.text[:500]
    assert response.json()["resourceType"] == "OperationOutcome"
    # The service, and its worker pool, still serve patients.
    assert post(live, tokens, PV, valid_patient_view()).status_code == 200


# -- item 2: no outbound request unless allow-listed ---------------------------------------


class Listener:
    """A loopback TCP listener that counts connections (and never answers)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    it = Listener()
    yield it
    it.close()


def _fetching_call(server: str, token: str = "secret-ehr-token") -> dict[str, Any]:
    """A patient-view without prefetch: everything must be fetched from ``server``."""
    return hook_request(
        "patient-view",
        SPEC_PATIENT,
        fhirServer=server,
        fhirAuthorization={
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "rccnav",
        },
    )


def test_without_an_allow_list_nothing_is_fetched(
    serve: Callable[..., LiveServer], tokens: Tokens, listener: Listener
) -> None:
    live = serve(fhir_client={"allow_http": True})
    response = post(live, tokens, PV, _fetching_call(listener.url + "/fhir"))
    assert response.status_code == 412
    assert "fhir_client.allowed_servers" in response.text
    assert listener.connections == 0


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/tenant-a/../tenant-b",
        "/fhir/tenant-a/%2e%2e/tenant-b",
        "/fhir/tenant-a/%2E%2E/tenant-b",
        "/fhir/tenant-a/.%2e/tenant-b",
        "/fhir/tenant-a/..%2ftenant-b",
        "/fhir/tenant-a/./x",
        "/fhir/tenant-ab",
        "/fhir",
    ],
)
def test_a_fhir_server_outside_its_allowed_base_is_never_contacted(
    serve: Callable[..., LiveServer], tokens: Tokens, listener: Listener, path: str
) -> None:
    allowed = listener.url + "/fhir/tenant-a"
    live = serve(fhir_client={"allow_http": True, "allowed_servers": [allowed]})
    response = post(live, tokens, PV, _fetching_call(listener.url + path))
    assert response.status_code == 412
    assert listener.connections == 0


def test_next_links_stay_under_the_same_base_and_the_token_goes_nowhere_else(
    serve: Callable[..., LiveServer], tokens: Tokens, documents: Documents, listener: Listener
) -> None:
    """A page whose next link climbs out (``..``) or leaves for another host is not followed."""
    base = documents.url + "/fhir/tenant-a"
    bundle = vignette("p01-favorable-si")
    prefetch = prefetch_from(bundle)
    pid = prefetch["patient"]["id"]
    escapes = {
        "conditions": base + "/../tenant-b/Condition?page=2",
        "observations": base + "/%2e%2e/tenant-b/Observation?page=2",
        "procedures": listener.url + "/fhir/tenant-a/Procedure?page=2",
    }
    for key, url in escapes.items():
        prefetch[key]["link"] = [{"relation": "next", "url": url}]
    live = serve(fhir_client={"allow_http": True, "allowed_servers": [base]})
    body = hook_request("patient-view", pid, prefetch=prefetch)
    body["fhirServer"] = base
    body["fhirAuthorization"] = _fetching_call(base)["fhirAuthorization"]
    response = post(live, tokens, PV, body)
    assert response.status_code == 412
    assert not any("tenant-b" in path for path in documents.hits)
    assert listener.connections == 0


def test_an_http_fhir_server_names_the_setting_to_change(
    serve: Callable[..., LiveServer], tokens: Tokens, listener: Listener
) -> None:
    live = serve(fhir_client={"allowed_servers": [listener.url + "/fhir"]})
    response = post(live, tokens, PV, _fetching_call(listener.url + "/fhir"))
    assert response.status_code == 412
    assert "fhir_client.allow_http" in response.text
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("server", "allowed"),
    [
        ("https://EHR.example.org:443/fhir/", "https://ehr.example.org/fhir"),
        ("https://ehr.example.org/fhir/r4", "https://ehr.example.org/fhir"),
        ("https://ehr.example.org//fhir", "https://ehr.example.org/fhir"),
    ],
)
def test_allowed_servers_match_after_normalisation(server: str, allowed: str) -> None:
    config = FhirClientConfig(allowed_servers=(allowed,))
    assert check_server(server, config).startswith("https://ehr.example.org/fhir")


@pytest.mark.parametrize(
    "server",
    [
        "https://ehr.example.org:8443/fhir",
        "http://ehr.example.org/fhir",
        "https://ehr.example.org.evil.test/fhir",
        "https://user:pw@ehr.example.org/fhir",
        "https://ehr.example.org/fhirx",
        "https://ehr.example.org/fhir/%2e%2e/admin",
        "https://ehr.example.org/fhir\\..\\admin",
        "file:///etc/passwd",
    ],
)
def test_servers_outside_the_allow_list_are_refused(server: str) -> None:
    config = FhirClientConfig(allowed_servers=("https://ehr.example.org/fhir",), allow_http=True)
    with pytest.raises(FetchError):
        check_server(server, config)


def test_same_base_is_segment_wise() -> None:
    base = "https://ehr.example.org/fhir"
    assert _same_base(base + "/Observation?page=2", base)
    assert not _same_base("https://ehr.example.org/fhirx/Observation", base)
    assert not _same_base(base + "/../other/Observation", base)
    assert not _same_base("https://ehr.example.org:444/fhir/Observation", base)


# -- item 3: JWT claims, hookInstance, unknown fields ---------------------------------------


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({}, True),
        ({"exp": "EXP"}, False),
        ({"iat": "IAT"}, False),
        ({"exp": True}, False),
        ({"nbf": "0"}, False),
        ({"sub": 7}, False),
        ({"sub": "client-1"}, True),
    ],
)
def test_jwt_claim_types(
    serve: Callable[..., LiveServer], tokens: Tokens, claims: dict[str, Any], accepted: bool
) -> None:
    import jwt

    live = serve()
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": tokens.iss,
        "aud": live.url + "/cds-services",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    # "EXP"/"IAT" stand for the valid times written as strings (what PyJWT alone accepts).
    as_text = {"EXP": str(now + 300), "IAT": str(now)}
    for name, value in claims.items():
        payload[name] = as_text.get(value, value) if isinstance(value, str) else value
    token = jwt.encode(
        payload, tokens.key, algorithm=tokens.alg, headers={"kid": tokens.kid, "typ": "JWT"}
    )
    with live.client() as client:
        status = client.get(
            "/cds-services", headers={"Authorization": f"Bearer {token}"}
        ).status_code
    assert status == (200 if accepted else 401)


def test_sub_is_required_only_where_the_issuer_lists_subjects(
    serve: Callable[..., LiveServer], tokens: Tokens, tmp_path: Path
) -> None:
    from .conftest import SPEC_ISSUER, spec_jwks

    issuer = {"iss": SPEC_ISSUER, "jwks": spec_jwks(), "sub_allowed": ["client-1"]}
    live = serve(service_config(tmp_path, auth={"issuers": [issuer]}))
    url = live.url + "/cds-services"
    import jwt

    def token(**extra: Any) -> str:
        now = int(time.time())
        claims = {"iss": SPEC_ISSUER, "aud": url, "iat": now, "exp": now + 60}
        claims |= {"jti": str(uuid.uuid4()), **extra}
        return jwt.encode(
            claims, tokens.key, algorithm=tokens.alg, headers={"kid": tokens.kid, "typ": "JWT"}
        )

    with live.client() as client:

        def status(t: str) -> int:
            return client.get("/cds-services", headers={"Authorization": f"Bearer {t}"}).status_code

        assert status(token()) == 401
        assert status(token(sub="someone-else")) == 401
        assert status(token(sub="client-1")) == 200


def test_unknown_top_level_fields_are_tolerated(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    live = serve()
    body = valid_patient_view()
    body["org.example.newField"] = {"anything": [1, 2]}
    body["fhirVersion"] = "4.0.1"
    assert post(live, tokens, PV, body).status_code == 200


def test_hook_instance_is_not_logged_unless_a_uuid(
    serve: Callable[..., LiveServer], tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="rccnav")
    live = serve()
    body = valid_patient_view()
    body["hookInstance"] = "evil\nINFO forged log line"
    response = post(live, tokens, PV, body)
    assert response.status_code == 400
    assert "forged log line" not in caplog.text


# -- item 3: storage faults name the file and the fix ----------------------------------------


def _chattr(flag: str, path: Path) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def test_a_read_only_folder_stops_the_start_with_the_path_and_the_fix(tmp_path: Path) -> None:
    from rccnav.adapters.service.app import create_app
    from rccnav.adapters.service.config import ConfigError

    folder = tmp_path / "ro"
    folder.mkdir()
    if not _chattr("+i", folder):
        pytest.skip("cannot make a folder immutable here")
    try:
        with pytest.raises(ConfigError) as caught:
            create_app(service_config(tmp_path, feedback_db=folder / "feedback.sqlite3"))
    finally:
        _chattr("-i", folder)
    message = str(caught.value)
    assert str(folder / "feedback.sqlite3") in message
    assert "writable" in message and "feedback_db" in message


def test_a_corrupt_database_stops_the_start_with_the_path_and_the_fix(tmp_path: Path) -> None:
    from rccnav.adapters.service.app import create_app
    from rccnav.adapters.service.config import ConfigError

    db = tmp_path / "feedback.sqlite3"
    db.write_bytes(b"this is not a database" * 200)
    with pytest.raises(ConfigError) as caught:
        create_app(service_config(tmp_path, feedback_db=db))
    assert str(db) in str(caught.value)
    assert "not a usable SQLite database" in str(caught.value)
    assert "Move it aside" in str(caught.value)


def test_a_full_disk_is_a_503_naming_the_file_and_nothing_is_acknowledged(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    live = serve()
    store = live.app.state.service.store
    with store._lock:  # simulate a full disk: the database may not grow
        (pages,) = store._db.execute("PRAGMA page_count").fetchone()
        store._db.execute(f"PRAGMA max_page_count = {pages}")
    path = PV + "/feedback"
    feedback = {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-01T10:00:00Z",
                "overrideReason": {"userComment": "x" * 3000},
            }
            for _ in range(50)
        ]
    }
    response = post(live, tokens, path, feedback)
    assert response.status_code == 503
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert str(store.path) in outcome["issue"][0]["diagnostics"]
    assert (
        "disk" in outcome["issue"][0]["diagnostics"]
        and "feedback_db" in outcome["issue"][0]["diagnostics"]
    )
    assert store.count() == 0  # nothing acknowledged, nothing half-stored
    with live.client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "full" in ready.json()["checks"]["storage"]["problem"]
