"""JWT bearer authentication of CDS Clients, as the CDS Hooks 2.0 spec requires.

Every call carries ``Authorization: Bearer <JWT>`` signed by the CDS Client
("Trusting CDS Clients" in the spec). A token is accepted only if all hold:

- ``iss`` is an allow-listed issuer;
- the header names an asymmetric ``alg`` we allow (never ``none``, never HMAC),
  a ``kid``, and ``typ`` ``JWT``;
- the signature verifies with that issuer's key ``kid``, taken from its inline
  JWK Set, its configured JWK Set URL, or the header's ``jku`` when, and only
  when, that URL is on the issuer's ``jku`` allow-list;
- ``aud`` is the URL being called (``public_base_url`` + path, never the Host
  header); ``exp`` and ``iat`` are present, numbers (as the spec types them) and
  current (within the clock skew), and the lifetime ``exp - iat`` is bounded;
- ``sub``, which CDS Hooks 2.0 does not define, is required only when the issuer
  has a ``sub_allowed`` list, and must then be on it;
- the ``jti`` has not been seen from this issuer before, for as long as the
  token could be valid.

Any failure is the same bare 401: the reason goes to the log (never the token).
JWK Sets fetched by URL are cached and re-fetched when they expire or when an
unknown ``kid`` appears (key rotation), at most once per cooldown; fetching
runs in a worker thread so the event loop never blocks on the network.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import jwt
import orjson
from jwt import PyJWK, PyJWKClient, PyJWKSet

from rccnav.adapters.service.config import AuthConfig, IssuerConfig

MAX_TOKEN_CHARS = 16_384
_RSA_FAMILY = ("RS", "PS")


class AuthError(Exception):
    """Authentication failed; ``reason`` is for the log only, never the response."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    iss: str
    jti: str
    expires_at: int
    tenant: str | None


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until its token can no longer be valid."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            self._seen.pop(key, None)

    def first_use(self, iss: str, jti: str, keep_until: float) -> bool:
        """Record the pair; False if it was already seen (a replay) or the cache is full."""
        key = (iss, jti)
        with self._lock:
            self._purge(self._clock())
            if key in self._seen:
                return False
            if len(self._seen) >= self._max:
                # Fail closed: refusing a fresh token is safer than forgetting old ones.
                return False
            self._seen[key] = keep_until
            heapq.heappush(self._expiry, (keep_until, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


class SqliteReplayCache:
    """``(iss, jti)`` pairs in a SQLite file, so every worker process refuses a replay.

    The primary key makes "first use" one atomic insert across processes; expired
    pairs are purged every ``purge_every`` calls.
    """

    def __init__(
        self,
        path: Path,
        max_entries: int,
        clock: Callable[[], float] = time.time,
        purge_every: int = 1000,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS used_jti ("
            " iss TEXT NOT NULL, jti TEXT NOT NULL, keep_until REAL NOT NULL,"
            " PRIMARY KEY (iss, jti)) WITHOUT ROWID"
        )
        self._max = max_entries
        self._clock = clock
        self._purge_every = purge_every
        self._calls = 0
        self._lock = threading.Lock()

    def first_use(self, iss: str, jti: str, keep_until: float) -> bool:
        """Record the pair; False if any process already recorded it, or the store is full."""
        now = self._clock()
        with self._lock:
            self._calls += 1
            # Purge and capacity check every purge_every calls (the cap is approximate by
            # at most that many entries; it only bounds the file's growth).
            if (self._calls - 1) % self._purge_every == 0:
                self._db.execute("DELETE FROM used_jti WHERE keep_until <= ?", (now,))
                (count,) = self._db.execute("SELECT count(*) FROM used_jti").fetchone()
                if count >= self._max:
                    return False  # fail closed, as the in-memory cache does
            inserted = self._db.execute(
                "INSERT INTO used_jti (iss, jti, keep_until) VALUES (?, ?, ?) "
                "ON CONFLICT (iss, jti) DO UPDATE SET keep_until = excluded.keep_until "
                "WHERE used_jti.keep_until <= ?",
                (iss, jti, keep_until, now),
            ).rowcount
        return inserted == 1

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT count(*) FROM used_jti WHERE keep_until > ?", (self._clock(),)
            ).fetchone()
        return int(count)


class _KeySource:
    """The public keys of one issuer, from one place (inline set or one URL)."""

    def __init__(self, *, jwks: dict[str, Any] | None = None, client: PyJWKClient | None = None):
        self._inline = PyJWKSet.from_dict(jwks) if jwks is not None else None
        self._client = client

    @property
    def where(self) -> str:
        return "inline JWK Set" if self._client is None else self._client.uri

    def ready(self) -> bool:
        """Keys are at hand without network I/O."""
        if self._client is None:
            return True
        cache = self._client.jwk_set_cache
        return cache is not None and cache.get() is not None

    def fetch(self) -> None:
        """Fetch the key set now (blocking; call from a worker thread)."""
        if self._client is not None:
            self._client.get_jwk_set(refresh=True)

    def cached(self, kid: str) -> PyJWK | None:
        """The key if it is at hand without network I/O."""
        if self._inline is not None:
            return next((k for k in self._inline.keys if k.key_id == kid), None)
        assert self._client is not None
        cache = self._client.jwk_set_cache
        jwk_set = cache.get() if cache is not None else None
        if jwk_set is None:
            return None
        return next((k for k in jwk_set.keys if k.key_id == kid), None)

    async def lookup(self, kid: str) -> PyJWK:
        key = self.cached(kid)
        if key is not None:
            return key
        if self._client is None:
            raise AuthError(f"no key {kid!r} in the inline JWK Set")
        client = self._client
        try:
            return await anyio.to_thread.run_sync(client.get_signing_key, kid)
        except jwt.PyJWKClientError as exc:
            raise AuthError(f"key {kid!r} not available from {client.uri}: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWK Set at {client.uri} unusable: {exc}") from exc


class _Issuer:
    def __init__(self, config: IssuerConfig, auth: AuthConfig) -> None:
        self.iss = config.iss
        self.subjects = frozenset(config.sub_allowed)

        def client(url: str) -> PyJWKClient:
            return PyJWKClient(
                url,
                cache_jwk_set=True,
                lifespan=auth.jwks_cache_seconds,
                timeout=auth.jwks_fetch_timeout_seconds,
                cooldown_duration=auth.jwks_refresh_cooldown_seconds,
            )

        self.default: _KeySource | None = None
        if config.jwks is not None:
            self.default = _KeySource(jwks=config.jwks)
        elif config.jwks_url is not None:
            self.default = _KeySource(client=client(config.jwks_url))
        self.by_jku = {url: _KeySource(client=client(url)) for url in config.jku_allowed}

    def sources(self) -> list[_KeySource]:
        return [*([self.default] if self.default else []), *self.by_jku.values()]

    def source_for(self, jku: Any) -> _KeySource:
        if jku is None:
            if self.default is None:
                raise AuthError(f"issuer {self.iss!r} tokens must name an allow-listed jku")
            return self.default
        if not isinstance(jku, str) or jku not in self.by_jku:
            raise AuthError(f"jku not allow-listed for issuer {self.iss!r}")
        return self.by_jku[jku]


def _check_subject(claims: dict[str, Any], allowed: frozenset[str]) -> None:
    """``sub`` is not a CDS Hooks 2.0 claim (the payload table lists iss, aud, exp, iat,
    jti, tenant); a token may carry one. If the issuer's ``sub_allowed`` list is set,
    ``sub`` is required and must be on it (CDS Hooks 1.0: services SHOULD allow-list
    ``iss``, ``jku`` and ``sub``)."""
    sub = claims.get("sub")
    if "sub" in claims and not isinstance(sub, str):
        raise AuthError("sub is not a string")
    if allowed and sub not in allowed:
        raise AuthError("sub missing or not allow-listed for this issuer")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("no Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("Authorization is not a Bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError("token too long")
    return token


def _segment(text: str) -> dict[str, Any]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise AuthError("malformed token") from exc
    if not isinstance(data, dict):
        raise AuthError("malformed token")
    return data


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified: only to choose the issuer and key.

    PyJWT then parses and verifies the whole token once (strictly); reading the
    two segments here avoids two more full parses per call.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("malformed token")
    return _segment(parts[0]), _segment(parts[1])


def _key_for_alg(key: PyJWK, alg: str) -> PyJWK:
    """Bind an RSA key published without ``alg`` to the token's RS*/PS* algorithm."""
    if key.key_type == "oct":
        raise AuthError("symmetric key in JWK Set refused")
    if key.algorithm_name == alg:
        return key
    data: dict[str, Any] = dict(key._jwk_data)
    if key.key_type == "RSA" and "alg" not in data and alg.startswith(_RSA_FAMILY):
        return PyJWK(data, algorithm=alg)
    raise AuthError(f"token alg {alg} does not match key alg {key.algorithm_name}")


class JwtVerifier:
    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock
        self._issuers = {issuer.iss: _Issuer(issuer, config) for issuer in config.issuers}
        self._replays: ReplayCache | SqliteReplayCache = (
            SqliteReplayCache(config.replay_db, config.replay_cache_max_entries, clock)
            if config.replay_db is not None
            else ReplayCache(config.replay_cache_max_entries, clock)
        )

    def key_sets(self) -> list[tuple[str, _KeySource]]:
        """Every issuer's key sources (for readiness)."""
        return [
            (iss, source) for iss, issuer in self._issuers.items() for source in issuer.sources()
        ]

    def _header(self, header: dict[str, Any]) -> tuple[str, str, Any]:
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if not isinstance(alg, str) or alg not in self._config.algorithms:
            raise AuthError(f"algorithm {alg!r} refused")
        if not isinstance(kid, str) or not kid:
            raise AuthError("header has no kid")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthError("header typ is not JWT")
        return alg, kid, header.get("jku")

    def _issuer(self, claims: dict[str, Any]) -> _Issuer:
        iss = claims.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("issuer not allow-listed")
        return issuer

    def _claims(
        self, token: str, key: PyJWK, alg: str, issuer: str, audience: str
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=self._config.clock_skew_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"token refused: {type(exc).__name__}: {exc}") from exc
        return claims

    def _check_lifetime(self, claims: dict[str, Any]) -> tuple[int, str]:
        exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
        # The spec types exp and iat as numbers; PyJWT would also take "1700000000".
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise AuthError(f"{name} is not a number")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthError("jti is not a usable string")
        if int(exp) - int(iat) > self._config.max_token_lifetime_seconds:
            raise AuthError("token lifetime exceeds the configured maximum")
        return int(exp), jti

    async def verify(self, authorization: str | None, audience: str) -> VerifiedClient:
        token = _bearer_token(authorization)
        header, unverified = _peek(token)
        alg, kid, jku = self._header(header)
        issuer = self._issuer(unverified)
        key = _key_for_alg(await issuer.source_for(jku).lookup(kid), alg)
        claims = self._claims(token, key, alg, issuer.iss, audience)
        exp, jti = self._check_lifetime(claims)
        _check_subject(claims, issuer.subjects)
        if not self._replays.first_use(issuer.iss, jti, exp + self._config.clock_skew_seconds):
            raise AuthError("jti already used (replay) or replay cache full")
        tenant = claims.get("tenant")
        return VerifiedClient(issuer.iss, jti, exp, tenant if isinstance(tenant, str) else None)
