"""The JSON API answers what the CLI prints, and the `rccnav serve` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from rccnav.adapters.cli import main

from .conftest import (
    ON,
    REPO,
    VIGNETTES,
    LiveServer,
    Tokens,
    create_app,
    free_port,
    service_config,
    start_server,
    vignette_names,
)

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(create_app(service_config(tmp_path_factory.mktemp("api"))))
    yield live
    live.stop()


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main([*argv, "--format", "json"]) == 0
    return orjson.loads(capsys.readouterr().out)


def assess(
    api: LiveServer,
    tokens: Tokens,
    body: bytes,
    query: str = "",
    content_type: str = "application/json",
) -> httpx.Response:
    path = "/api/assess"
    with api.client() as client:
        return client.post(
            path + query,
            content=body,
            headers={**tokens.header(api.url + path), "Content-Type": content_type},
        )


@pytest.mark.parametrize("name", vignette_names())
def test_fhir_bundle_gives_the_cli_answer(
    api: LiveServer, tokens: Tokens, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = VIGNETTES / f"{name}.json"
    response = assess(api, tokens, path.read_bytes(), f"?on={ON.isoformat()}")
    assert response.status_code == 200, response.text[:1000]
    assert response.json() == cli_json(capsys, "assess", str(path), "--on", ON.isoformat())


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_case_file_gives_the_cli_answer(
    api: LiveServer, tokens: Tokens, capsys: pytest.CaptureFixture[str], example: str
) -> None:
    path = EXAMPLES / example
    response = assess(
        api, tokens, path.read_bytes(), "?on=2026-11-01", content_type="application/yaml"
    )
    assert response.status_code == 200, response.text[:1000]
    assert response.json() == cli_json(capsys, "assess", str(path), "--on", "2026-11-01")


def test_unusable_body_is_400_naming_the_problem(api: LiveServer, tokens: Tokens) -> None:
    for body in (b"", b"not: [valid", b'{"labs": {"hemoglobin": "low"}}', b'{"resourceType": 1}'):
        response = assess(api, tokens, body)
        assert response.status_code == 400, body
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["diagnostics"]


def test_bad_query_parameters_are_400(api: LiveServer, tokens: Tokens) -> None:
    body = (VIGNETTES / "p01-favorable-si.json").read_bytes()
    assert assess(api, tokens, body, "?on=yesterday").status_code == 400
    assert assess(api, tokens, body, "?lookback_days=0").status_code == 400
    refused = assess(api, tokens, body, "?guideline=asco")
    assert refused.status_code == 400
    assert refused.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("guideline", ["nccn", "eau", "esmo"])
def test_one_guideline_view_gives_the_cli_answer(
    api: LiveServer, tokens: Tokens, capsys: pytest.CaptureFixture[str], guideline: str
) -> None:
    path = VIGNETTES / "p01-favorable-si.json"
    query = f"?on={ON.isoformat()}&guideline={guideline}"
    response = assess(api, tokens, path.read_bytes(), query)
    assert response.status_code == 200, response.text[:1000]
    answer = response.json()
    assert answer["systemic_therapy"]["guideline_view"] == guideline
    argv = ("assess", str(path), "--on", ON.isoformat(), "--guideline", guideline)
    assert answer == cli_json(capsys, *argv)


def test_kb_report(api: LiveServer, tokens: Tokens) -> None:
    from rccnav.knowledge.loader import default_knowledge_base

    kb = default_knowledge_base()
    with api.client() as client:
        for fmt in ("markdown", "html"):
            response = client.get(
                "/api/kb", params={"format": fmt}, headers=tokens.header(api.url + "/api/kb")
            )
            assert response.status_code == 200
            data = response.json()
            assert data["version"] == kb.version and data["checksum"] == kb.checksum
            assert kb.version in data["report"]


# -- `rccnav serve` -----------------------------------------------------------------------


def _serve(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp_path / "rccnav.toml"
    config.write_text(
        f'feedback_db = "fb.sqlite3"\nassessment_date = {ON.isoformat()}\n'
        f'public_base_url = "http://127.0.0.1:{port}"\n'
        '[[auth.issuers]]\niss = "https://ehr.example.org/"\n'
        'jwks_url = "https://ehr.example.org/jwks"\n'
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rccnav.adapters.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(config),
            *flags,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            httpx.get(url + "/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("rccnav serve did not start")


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return out.decode()


@pytest.mark.slow
def test_serve_insecure_warns_at_start_and_on_every_request(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path, "--insecure-no-auth")
    try:
        _wait_up(url, proc)
        assert httpx.get(url + "/cds-services").status_code == 200
        assert httpx.get(url + "/healthz").status_code == 200
    finally:
        output = _stop(proc)
    assert "WARNING: AUTHENTICATION DISABLED" in output
    access = [line for line in output.splitlines() if "rccnav.service.access" in line]
    assert len(access) >= 3  # the readiness probe(s) and both calls
    assert all("auth=DISABLED(insecure-no-auth)" in line for line in access)
    assert (tmp_path / "fb.sqlite3").exists()  # relative to the config file


@pytest.mark.slow
def test_serve_requires_authentication_by_default(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path)
    try:
        _wait_up(url, proc)
        assert httpx.get(url + "/cds-services").status_code == 401
    finally:
        output = _stop(proc)
    assert "AUTHENTICATION DISABLED" not in output


def test_serve_refuses_a_config_without_issuers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rccnav.yaml"
    config.write_text("port: 0\n")
    assert main(["serve", "--config", str(config)]) == 2
    assert "no trusted CDS Clients" in capsys.readouterr().err


def test_serve_refuses_authentication_without_a_public_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Otherwise aud would be checked against the caller's own Host header."""
    config = tmp_path / "rccnav.toml"
    config.write_text(
        'feedback_db = "fb.sqlite3"\n[[auth.issuers]]\niss = "https://ehr.example.org/"\n'
        'jwks_url = "https://ehr.example.org/jwks"\n'
    )
    assert main(["serve", "--config", str(config)]) == 2
    assert "public_base_url" in capsys.readouterr().err


def test_config_file_cannot_disable_authentication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rccnav.json"
    config.write_text('{"insecure_no_auth": true}')
    assert main(["serve", "--config", str(config)]) == 2
    assert "--insecure-no-auth" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["port = 'x'\n", "[cors]\nallow_origins = 3\n", "nonsense = 1\n"])
def test_config_errors_name_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    config = tmp_path / "rccnav.toml"
    config.write_text(text)
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err


def test_cors_is_configurable(serve: Callable[..., LiveServer]) -> None:
    live = serve(cors={"allow_origins": ["https://sandbox.cds-hooks.org"]})
    with live.client() as client:
        preflight = client.options(
            "/cds-services/rccnav-patient-view",
            headers={
                "Origin": "https://sandbox.cds-hooks.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
        other = client.options(
            "/cds-services/rccnav-patient-view",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in other.headers


# -- several worker processes --------------------------------------------------------------


def _workers_config(tmp_path: Path, *, replay_db: bool, port: int = 8080) -> Path:
    from .conftest import SPEC_ISSUER, spec_jwks

    auth: dict[str, object] = {"issuers": [{"iss": SPEC_ISSUER, "jwks": spec_jwks()}]}
    if replay_db:
        auth["replay_db"] = "replay.sqlite3"  # relative to the config file
    config = tmp_path / "rccnav.json"
    settings = {
        "feedback_db": "fb.sqlite3",
        "assessment_date": ON.isoformat(),
        "public_base_url": f"http://127.0.0.1:{port}",
        "limits": {"assess_processes": 1},
        "auth": auth,
    }
    config.write_bytes(orjson.dumps(settings))
    return config


def test_several_workers_need_a_shared_replay_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _workers_config(tmp_path, replay_db=False)
    code = main(["serve", "--workers", "2", "--port", str(free_port()), "--config", str(config)])
    assert code == 2
    assert "auth.replay_db" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_share_the_replay_store(tmp_path: Path, tokens: Tokens) -> None:
    """Also: each worker process logs its access lines and its refusals."""
    port = free_port()
    config = _workers_config(tmp_path, replay_db=True, port=port)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "rccnav.adapters.cli", "serve", "--workers", "2"),
            *("--host", "127.0.0.1", "--port", str(port), "--config", str(config)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, proc)
        discovery = url + "/cds-services"
        token = tokens.make(discovery)
        statuses = []
        # New connections spread over the workers; every reuse of the jti must fail.
        for _ in range(6):
            with httpx.Client() as fresh:
                statuses.append(
                    fresh.get(discovery, headers={"Authorization": f"Bearer {token}"}).status_code
                )
        assert statuses[0] == 200
        assert statuses[1:] == [401] * 5
        assert (tmp_path / "replay.sqlite3").exists()
    finally:
        output = _stop(proc)
    access = [line for line in output.splitlines() if "rccnav.service.access" in line]
    refused = [line for line in output.splitlines() if "rccnav.service.auth" in line]
    assert any("GET /cds-services 200" in line for line in access), output[-2000:]
    assert sum("GET /cds-services 401" in line for line in access) == 5
    assert len(refused) == 5 and all("replay" in line for line in refused)
    assert token.split(".")[2] not in output
