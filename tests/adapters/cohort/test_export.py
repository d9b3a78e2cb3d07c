"""``rccnav cohort export`` against sekmet-fhir on loopback: SMART Backend Services + $export."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.cohort.export import retry_after
from rccnav.adapters.cohort.synth import patients

from ..service.conftest import _wait_http, free_port
from .conftest import read_rows

pytest.importorskip("sekmet")
CLIENT = "rccnav-cohort"
KID = "cohort-key-1"


def _keys(folder: Path) -> tuple[Path, dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP384R1())
    pem = folder / "client.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    jwk = orjson.loads(ECAlgorithm.to_jwk(key.public_key()))
    return pem, {**jwk, "kid": KID, "alg": "ES384", "use": "sig"}


@pytest.fixture(scope="module")
def smart_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, int]]:
    """sekmet-fhir requiring SMART tokens, loaded with 12 synthetic patients."""
    home = tmp_path_factory.mktemp("sekmet-smart")
    pem, jwk = _keys(home)
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
        "server_auth": {
            "types": ["smart"],
            "smart_clients": [
                {
                    "client_id": CLIENT,
                    "jwks": {"keys": [jwk]},
                    "scopes": "system/*.read system/*.write",
                }
            ],
        },
    }
    (home / "settings.yaml").write_bytes(orjson.dumps(settings))
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
        env={**os.environ, "SEKMET_CONFIG": str(home / "settings.yaml")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"{base}/metadata", proc)
        token = _token(base, pem)
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for resources, _truth in patients(12, seed=5)
            for r in resources
        ]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = httpx.post(
            base,
            content=orjson.dumps(bundle),
            timeout=60,
            headers={"Content-Type": "application/fhir+json", "Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text[:500]
        yield base, pem, 12
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _token(base: str, pem: Path) -> str:
    from rccnav.adapters.cohort.export import _Auth

    with httpx.Client(timeout=30) as client:
        auth = _Auth(client, base, CLIENT, pem, KID, None, "system/*.read system/*.write")
        return auth.headers(base)["Authorization"].removeprefix("Bearer ")


def test_export_then_assess_every_patient(
    smart_server: tuple[str, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, pem, count = smart_server
    out = tmp_path / "export"
    code = main(
        [
            "cohort",
            "export",
            "--fhir-server",
            base,
            "--out",
            str(out),
            "--client-id",
            CLIENT,
            "--private-key",
            str(pem),
            "--key-id",
            KID,
        ]
    )
    assert code == 0, capsys.readouterr().err
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert {item["type"] for item in manifest["output"]} >= {"Patient", "Condition", "Observation"}
    assert all((out / item["url"]).exists() for item in manifest["output"])
    assert (
        main(
            [
                "cohort",
                "assess",
                str(out),
                "--out",
                str(tmp_path / "run"),
                "--at",
                "first-line-start",
            ]
        )
        == 0
    )
    rows = read_rows(tmp_path / "run")
    assert len(rows) == count
    assert sum(row["status"] == "assessed" for row in rows) >= count - 1


def test_export_without_credentials_is_refused_with_exit_2(
    smart_server: tuple[str, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _pem, _count = smart_server
    assert main(["cohort", "export", "--fhir-server", base, "--out", str(tmp_path)]) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_an_unregistered_key_is_refused_by_the_token_endpoint(
    smart_server: tuple[str, Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _pem, _count = smart_server
    other, _jwk = _keys(tmp_path)
    code = main(
        [
            "cohort",
            "export",
            "--fhir-server",
            base,
            "--out",
            str(tmp_path / "x"),
            "--client-id",
            CLIENT,
            "--private-key",
            str(other),
            "--key-id",
            KID,
        ]
    )
    assert code == 2
    assert "the token endpoint refused the client" in capsys.readouterr().err


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(None) == 2.0
    assert retry_after("soon") == 2.0
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after(later, now=now.timestamp()) == 30.0
    assert retry_after("100000") == 120.0  # capped: a status check at least every 2 minutes
