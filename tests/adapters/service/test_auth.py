"""JWT authentication as CDS Hooks 2.0 requires ("Trusting CDS Clients").

The keys are the spec's published example key pair (jwk-private-example.json /
jwks-public.json). Every failure mode is checked twice: on the verifier itself,
and over HTTP against a running server, where each must be a bare 401.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from rccnav.adapters.service.auth import AuthError, JwtVerifier, ReplayCache, SqliteReplayCache
from rccnav.adapters.service.config import AuthConfig, IssuerConfig

from .conftest import (
    SPEC,
    SPEC_ISSUER,
    SPEC_KID,
    Documents,
    LiveServer,
    Tokens,
    load_text,
    spec_jwks,
    spec_private_jwk,
)

AUD = "https://cds.example.org/cds-services/rccnav-patient-view"


def verify(verifier: JwtVerifier, token: str, aud: str = AUD) -> Any:
    return asyncio.run(verifier.verify(f"Bearer {token}", aud))


@pytest.fixture
def verifier() -> JwtVerifier:
    return JwtVerifier(AuthConfig(issuers=(IssuerConfig(iss=SPEC_ISSUER, jwks=spec_jwks()),)))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def unsigned_token(aud: str) -> str:
    """alg=none, crafted by hand (libraries rightly make this hard)."""
    now = int(time.time())
    header = {"alg": "none", "typ": "JWT", "kid": SPEC_KID}
    claims = {
        "iss": SPEC_ISSUER,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    return f"{_b64(header)}.{_b64(claims)}."


def hmac_token(aud: str) -> str:
    """HS256 keyed with the issuer's public key: the classic algorithm-confusion attack."""
    public = jwt.PyJWK(spec_jwks()["keys"][0]).key
    secret = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {
        "iss": SPEC_ISSUER,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    # PyJWT refuses PEM keys for HMAC, so sign by hand.
    import hashlib
    import hmac

    head = _b64({"alg": "HS256", "typ": "JWT", "kid": SPEC_KID})
    body = _b64(claims)
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def other_ec_key() -> Any:
    return ec.generate_private_key(ec.SECP384R1())


# name -> token maker for one audience; every one must be refused.
FAILURES: dict[str, Callable[[Tokens, str], str]] = {
    "wrong signature": lambda t, aud: t.make(aud, key=other_ec_key()),
    "wrong aud": lambda t, aud: t.make(aud + "-other"),
    "aud of another service": lambda t, aud: t.make(aud.rsplit("/", 1)[0] + "/rccnav-order-sign"),
    "expired": lambda t, aud: t.make(aud, issued_ago=400, lifetime=300),
    "issued in the future": lambda t, aud: t.make(aud, issued_ago=-600),
    "lifetime too long": lambda t, aud: t.make(aud, lifetime=86_400),
    "unknown issuer": lambda t, aud: t.make(aud, iss="https://evil.example.org/"),
    "alg none": lambda t, aud: unsigned_token(aud),
    "HMAC": lambda t, aud: hmac_token(aud),
    "no jti": lambda t, aud: t.make(aud, drop=("jti",)),
    "no exp": lambda t, aud: t.make(aud, drop=("exp",)),
    "no iat": lambda t, aud: t.make(aud, drop=("iat",)),
    "unknown kid": lambda t, aud: t.make(aud, headers={"kid": "rotated-away"}),
    "jku not allow-listed": lambda t, aud: t.make(
        aud, headers={"jku": "https://evil.example/jwks"}
    ),
    "typ not JWT": lambda t, aud: t.make(aud, headers={"typ": "at+jwt"}),
    "garbage": lambda t, aud: "not.a.jwt",
}


def test_the_spec_example_token_verifies_with_the_spec_key() -> None:
    """Our test key material is the spec's: its example token's signature checks out."""
    header_line = load_text(SPEC / "jwt-authorization-header-example.txt").strip()
    token = header_line.removeprefix("Authorization: Bearer ").strip()
    key = jwt.PyJWK(spec_jwks()["keys"][0])
    claims = jwt.decode(
        token, key, algorithms=["ES384"], options={"verify_exp": False, "verify_aud": False}
    )
    assert claims["iss"] == SPEC_ISSUER


def test_the_spec_example_token_is_refused(verifier: JwtVerifier) -> None:
    """It expired in 2015 and names another service: refused all the same."""
    header_line = load_text(SPEC / "jwt-authorization-header-example.txt").strip()
    token = header_line.removeprefix("Authorization: Bearer ").strip()
    with pytest.raises(AuthError):
        verify(verifier, token, "https://cds.example.org/cds-services/some-service")


def test_a_valid_token_is_accepted(verifier: JwtVerifier, tokens: Tokens) -> None:
    client = verify(verifier, tokens.make(AUD))
    assert client.iss == SPEC_ISSUER
    assert client.tenant == "test-tenant"


def test_aud_may_be_a_list(verifier: JwtVerifier, tokens: Tokens) -> None:
    client = verify(verifier, tokens.make([AUD]))  # raises AuthError if refused
    assert client.iss == SPEC_ISSUER


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_every_failure_mode_is_refused(failure: str, verifier: JwtVerifier, tokens: Tokens) -> None:
    with pytest.raises(AuthError):
        verify(verifier, FAILURES[failure](tokens, AUD))


def test_a_replayed_jti_is_refused(verifier: JwtVerifier, tokens: Tokens) -> None:
    token = tokens.make(AUD)
    verify(verifier, token)
    with pytest.raises(AuthError, match="replay"):
        verify(verifier, token)
    # Another token that reuses the jti is a replay too.
    jti = str(uuid.uuid4())
    verify(verifier, tokens.make(AUD, jti=jti))
    with pytest.raises(AuthError):
        verify(verifier, tokens.make(AUD, jti=jti))


def test_replay_cache_forgets_after_expiry() -> None:
    now = [1000.0]
    cache = ReplayCache(max_entries=1000, clock=lambda: now[0])
    assert cache.first_use("iss", "a", keep_until=1010)
    assert not cache.first_use("iss", "a", keep_until=1010)
    now[0] = 1011
    assert cache.first_use("iss", "b", keep_until=1020)
    assert len(cache) == 1  # "a" is gone: that token can no longer be valid anyway


def test_replay_cache_fails_closed_when_full() -> None:
    cache = ReplayCache(max_entries=1000, clock=lambda: 0.0)
    for n in range(1000):
        assert cache.first_use("iss", str(n), keep_until=10)
    assert not cache.first_use("iss", "one-more", keep_until=10)


# -- the replay store shared by worker processes ---------------------------------------------


def test_sqlite_replay_store_is_shared_between_processes(tmp_path: Path) -> None:
    # Two stores on one file stand for two worker processes.
    now = [1000.0]
    first = SqliteReplayCache(tmp_path / "replay.sqlite3", 1000, clock=lambda: now[0])
    second = SqliteReplayCache(tmp_path / "replay.sqlite3", 1000, clock=lambda: now[0])
    assert first.first_use("iss", "a", keep_until=1010)
    assert not second.first_use("iss", "a", keep_until=1010)  # replay seen by the other
    assert second.first_use("other-iss", "a", keep_until=1010)  # jti is per issuer
    now[0] = 1011
    assert second.first_use("iss", "a", keep_until=1020)  # expired: that token is dead anyway
    assert not first.first_use("iss", "a", keep_until=1020)
    assert len(first) == 1


def test_sqlite_replay_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "replay.sqlite3"
    assert SqliteReplayCache(path, 1000, clock=lambda: 0.0).first_use("iss", "a", keep_until=10)
    assert not SqliteReplayCache(path, 1000, clock=lambda: 0.0).first_use("iss", "a", 10)


def test_sqlite_replay_store_fails_closed_when_full(tmp_path: Path) -> None:
    cache = SqliteReplayCache(tmp_path / "r.sqlite3", 1000, clock=lambda: 0.0, purge_every=1)
    for n in range(1000):
        assert cache.first_use("iss", str(n), keep_until=10)
    assert not cache.first_use("iss", "one-more", keep_until=10)


def test_verifier_uses_the_configured_replay_store(tmp_path: Path, tokens: Tokens) -> None:
    def verifier() -> JwtVerifier:
        return JwtVerifier(
            AuthConfig(
                issuers=(IssuerConfig(iss=SPEC_ISSUER, jwks=spec_jwks()),),
                replay_db=tmp_path / "replay.sqlite3",
            )
        )

    token = tokens.make(AUD)
    verify(verifier(), token)
    with pytest.raises(AuthError, match="replay"):
        verify(verifier(), token)  # a second process refuses it too


def test_missing_or_malformed_authorization_header(verifier: JwtVerifier) -> None:
    for header in (None, "", "Basic abc", "Bearer ", "Bearer " + "a" * 20_000):
        with pytest.raises(AuthError):
            asyncio.run(verifier.verify(header, AUD))


def test_config_refuses_hmac_and_none() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        AuthConfig(algorithms=("HS256",))
    with pytest.raises(ValueError, match="not allowed"):
        AuthConfig(algorithms=("none",))


def test_symmetric_key_in_jwks_is_refused(tokens: Tokens) -> None:
    oct_jwks = {"keys": [{"kty": "oct", "kid": SPEC_KID, "k": "c2VjcmV0"}]}
    verifier = JwtVerifier(AuthConfig(issuers=(IssuerConfig(iss=SPEC_ISSUER, jwks=oct_jwks),)))
    with pytest.raises(AuthError):
        verify(verifier, tokens.make(AUD))


# -- keys by URL: rotation and jku -------------------------------------------------


def _public_jwk(private: Any, kid: str, alg: str | None) -> dict[str, Any]:
    algorithm = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(private, rsa.RSAPrivateKey)
        else (jwt.algorithms.ECAlgorithm)
    )
    data: dict[str, Any] = orjson.loads(algorithm.to_jwk(private.public_key()))
    data.update({"kid": kid, "use": "sig"})
    if alg:
        data["alg"] = alg
    return data


def test_rotating_keys_are_fetched_from_the_jwks_url(documents: Documents) -> None:
    first = spec_private_jwk()
    url = documents.put("/jwks", spec_jwks())
    verifier = JwtVerifier(
        AuthConfig(
            issuers=(IssuerConfig(iss=SPEC_ISSUER, jwks_url=url),),
            jwks_refresh_cooldown_seconds=0,
        )
    )
    verify(verifier, Tokens(first).make(AUD))
    verify(verifier, Tokens(first).make(AUD))
    assert documents.hits["/jwks"] == 1  # cached

    # The client rotates to an RSA key published without "alg"; RS384 must still work.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    documents.put("/jwks", {"keys": [_public_jwk(rsa_key, "rotated", None)]})
    rotated = Tokens(first, kid="rotated")
    token = rotated.make(AUD, key=rsa_key, alg="RS384")
    verify(verifier, token)
    assert documents.hits["/jwks"] == 2  # unknown kid: fetched again
    # The old key is gone from the set now.
    with pytest.raises(AuthError):
        verify(verifier, Tokens(first).make(AUD))


def test_jku_is_honoured_only_when_allow_listed(documents: Documents, tokens: Tokens) -> None:
    allowed = documents.put("/allowed-jwks", spec_jwks())
    other = documents.put("/other-jwks", spec_jwks())
    verifier = JwtVerifier(
        AuthConfig(
            issuers=(IssuerConfig(iss=SPEC_ISSUER, jku_allowed=(allowed,)),),
        )
    )
    verify(verifier, tokens.make(AUD, headers={"jku": allowed}))
    with pytest.raises(AuthError, match="jku"):
        verify(verifier, tokens.make(AUD, headers={"jku": other}))
    assert "/other-jwks" not in documents.hits  # never even fetched
    with pytest.raises(AuthError):
        verify(verifier, tokens.make(AUD))  # this issuer has no other key source


def test_unreachable_jwks_url_is_a_refusal_not_a_crash(tokens: Tokens) -> None:
    verifier = JwtVerifier(
        AuthConfig(
            issuers=(IssuerConfig(iss=SPEC_ISSUER, jwks_url="http://127.0.0.1:9/jwks"),),
            jwks_fetch_timeout_seconds=1,
        )
    )
    with pytest.raises(AuthError):
        verify(verifier, tokens.make(AUD))


# -- over HTTP ------------------------------------------------------------------


@pytest.fixture
def secured(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve()


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_every_failure_mode_is_a_bare_401(
    failure: str, secured: LiveServer, tokens: Tokens
) -> None:
    url = f"{secured.url}/cds-services"
    token = FAILURES[failure](tokens, url)
    with secured.client() as client:
        response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"


def test_replay_over_http_is_a_401(secured: LiveServer, tokens: Tokens) -> None:
    headers = tokens.header(f"{secured.url}/cds-services")
    with secured.client() as client:
        assert client.get("/cds-services", headers=headers).status_code == 200
        assert client.get("/cds-services", headers=headers).status_code == 401


def test_no_token_is_a_401_everywhere_that_needs_one(secured: LiveServer) -> None:
    with secured.client() as client:
        for method, path in (
            ("GET", "/cds-services"),
            ("POST", "/cds-services/rccnav-patient-view"),
            ("POST", "/cds-services/rccnav-order-sign"),
            ("POST", "/cds-services/rccnav-order-select"),
            ("POST", "/cds-services/rccnav-patient-view/feedback"),
            ("POST", "/api/assess"),
            ("GET", "/api/kb"),
        ):
            response = client.request(method, path, content=b"{}")
            assert response.status_code == 401, path
            assert response.content == b""
        assert client.get("/healthz").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_token_for_discovery_does_not_open_a_hook(secured: LiveServer, tokens: Tokens) -> None:
    """aud must be the URL called, so a token cannot be moved between endpoints."""
    token = tokens.make(f"{secured.url}/cds-services")
    with secured.client() as client:
        response = client.post(
            "/cds-services/rccnav-patient-view",
            content=b"{}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 401


def test_public_base_url_sets_the_expected_aud(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    live = serve(public_base_url="https://cds.example.org/")
    with live.client() as client:
        local = client.get("/cds-services", headers=tokens.header(f"{live.url}/cds-services"))
        public = client.get(
            "/cds-services", headers=tokens.header("https://cds.example.org/cds-services")
        )
    assert local.status_code == 401
    assert public.status_code == 200


def test_insecure_mode_accepts_calls_without_a_token_and_says_so(
    serve: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="rccnav")
    live = serve(insecure_no_auth=True)
    assert "AUTHENTICATION DISABLED" in caplog.text
    with live.client() as client:
        assert client.get("/cds-services").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "rccnav.service.access"]
    assert lines and all("auth=DISABLED(insecure-no-auth)" in line for line in lines)


def test_tokens_never_reach_the_logs(
    secured: LiveServer, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    good = tokens.make(f"{secured.url}/cds-services")
    bad = tokens.make(f"{secured.url}/elsewhere")
    with secured.client() as client:
        client.get("/cds-services", headers={"Authorization": f"Bearer {good}"})
        client.get("/cds-services", headers={"Authorization": f"Bearer {bad}"})
    for token in (good, bad):
        for part in token.split("."):
            assert part not in caplog.text
