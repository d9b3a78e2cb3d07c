"""Settings of the HTTP service, read from one TOML, YAML or JSON file.

Every field has a safe default except the one thing a deployment must decide:
which CDS Clients (JWT issuers) to trust. Paths in the file are relative to the
file. Authentication can be switched off only by the ``--insecure-no-auth``
command-line flag, never by the file, so a copied config cannot silently open
the service.

A minimal ``rccnav.toml``::

    public_base_url = "https://cds.example.org"   # the JWT aud is this + the path
    feedback_db = "var/feedback.sqlite3"

    [auth]
    replay_db = "var/replay.sqlite3"              # needed with --workers N > 1

    [[auth.issuers]]
    iss = "https://ehr.example.org/"
    jwks_url = "https://ehr.example.org/.well-known/jwks.json"
    jku_allowed = ["https://ehr.example.org/.well-known/jwks.json"]

    [fhir_client]
    allowed_servers = ["https://ehr.example.org/fhir"]

    [cors]
    allow_origins = ["https://sandbox.cds-hooks.org"]
"""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Asymmetric JWS algorithms only: the CDS Hooks spec forbids `none` and every
# symmetric (HMAC) algorithm for the client's JWT.
ASYMMETRIC_ALGORITHMS = (
    "ES256",
    "ES384",
    "ES512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)


class ConfigError(ValueError):
    """The service configuration file is unusable; the message says where and why."""


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssuerConfig(_Settings):
    """One trusted CDS Client (JWT ``iss``) and where its public keys are."""

    iss: str = Field(min_length=1, description="The exact `iss` claim this client uses")
    jwks: dict[str, Any] | None = Field(None, description="Inline JWK Set (public keys)")
    jwks_url: str | None = Field(None, description="URL of the client's JWK Set")
    jku_allowed: tuple[str, ...] = Field(
        (), description="JWK Set URLs this client may name in the JWT `jku` header"
    )
    sub_allowed: tuple[str, ...] = Field(
        (),
        description="If set, tokens must carry a `sub` on this list (CDS Hooks 2.0 does "
        "not define `sub`; set this only if the client sends one)",
    )

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("jku_allowed")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("jwks")
    @classmethod
    def _has_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("keys"), list):
            raise ValueError("an inline JWK Set needs a `keys` list")
        return value

    @model_validator(mode="after")
    def _some_key_source(self) -> IssuerConfig:
        if self.jwks is None and self.jwks_url is None and not self.jku_allowed:
            raise ValueError(f"issuer {self.iss!r} needs `jwks`, `jwks_url` or `jku_allowed`")
        return self


class AuthConfig(_Settings):
    issuers: tuple[IssuerConfig, ...] = ()
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    clock_skew_seconds: int = Field(30, ge=0, le=300)
    max_token_lifetime_seconds: int = Field(
        900, ge=1, le=86_400, description="Refuse tokens whose exp - iat is longer"
    )
    jwks_cache_seconds: float = Field(300, gt=0)
    jwks_refresh_cooldown_seconds: float = Field(30, ge=0)
    jwks_fetch_timeout_seconds: float = Field(5, gt=0)
    replay_cache_max_entries: int = Field(1_000_000, ge=1000)
    replay_db: Path | None = Field(
        None,
        description="SQLite file recording used `jti`s, shared by worker processes; "
        "default: in memory, which is correct only for a single process",
    )

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"not allowed: {refused}; CDS Hooks forbids `none` and symmetric algorithms"
            )
        if not value:
            raise ValueError("at least one algorithm is needed")
        return value


class LimitsConfig(_Settings):
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_concurrent_requests: int = Field(
        64, ge=1, description="Hook and API calls in progress at once; more get 503"
    )
    max_concurrent_feedback: int = Field(32, ge=1)
    max_connections: int = Field(2048, ge=16, description="uvicorn limit_concurrency backstop")
    card_cache_entries: int = Field(
        512, ge=0, description="Recent assessment inputs whose cards are kept (0: none)"
    )
    keep_alive_seconds: int = Field(
        5,
        ge=1,
        le=300,
        description="Idle time before a kept-alive connection is closed; also the time a "
        "client has to send a complete request head (request line and headers)",
    )
    body_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Time an authenticated client has to send the whole body"
    )
    assess_processes: int = Field(
        2,
        ge=0,
        le=64,
        description="Worker processes that assess (each call within its CPU budget); "
        "0: threads in the service process (development; no CPU budget)",
    )
    assess_threads: int = Field(2, ge=1, le=64, description="Threads when assess_processes = 0")
    assess_cpu_seconds: int = Field(
        5, ge=1, le=600, description="CPU time one assessment may use (worker processes)"
    )
    assess_timeout_seconds: float = Field(
        15.0, gt=0, le=600, description="Wall-clock time a caller waits for its assessment"
    )
    assess_memory_mb: int | None = Field(
        1024,
        ge=256,
        description="Address-space cap of each worker process (MiB); null: no cap",
    )


class FhirClientConfig(_Settings):
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    max_response_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_pages: int = Field(20, ge=1, le=1000)
    page_size: int | None = Field(None, ge=1, le=1000, description="_count added to our queries")
    allow_http: bool = Field(False, description="Allow a plain-http fhirServer (testing only)")
    allowed_servers: tuple[str, ...] = Field(
        (),
        description="FHIR server base URLs the service may fetch from (with the hook's "
        "access token); empty: it fetches nothing and needs complete prefetch",
    )

    @field_validator("allowed_servers")
    @classmethod
    def _base_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in {"https", "http"} or not parts.hostname:
                raise ValueError(f"{url!r} is not an absolute http(s) base URL")
            if parts.query or parts.fragment or parts.username or parts.password:
                raise ValueError(f"{url!r}: a base URL has no query, fragment or credentials")
            if ".." in parts.path.split("/") or "%2e" in parts.path.lower():
                raise ValueError(f"{url!r} has '..' path segments")
        return value


class CorsConfig(_Settings):
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ("GET", "POST", "OPTIONS")
    allow_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    max_age_seconds: int = 600


class ServiceConfig(_Settings):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_base_url: str | None = Field(
        None,
        description="Base URL clients call (behind a proxy); the JWT `aud` must be this plus "
        "the path. Default: the URL of the request as received.",
    )
    report_url: str | None = Field(
        None,
        description="Where a clinician opens the full report (e.g. the page `rccnav web` "
        "serves, or your SMART app's launch URL); every card links to it. Unset: no link.",
    )
    auth: AuthConfig = AuthConfig()
    insecure_no_auth: bool = Field(
        False, description="Set only by the --insecure-no-auth flag, never by a file"
    )
    feedback_db: Path = Path("var/feedback.sqlite3")
    log_salt: str | None = Field(
        None, description="Salt for hashed correlation keys in logs; random per process if unset"
    )
    assessment_date: date | None = Field(
        None, description="Assess as of this date instead of today (replays and tests)"
    )
    lookback_days: int | None = Field(None, ge=1)
    kb_dir: Path | None = None
    limits: LimitsConfig = LimitsConfig()
    fhir_client: FhirClientConfig = FhirClientConfig()
    cors: CorsConfig = CorsConfig()
    log_level: str = "info"

    @field_validator("report_url")
    @classmethod
    def _report_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return tomllib.loads(text)
    if suffix in {".yaml", ".yml"}:
        return yaml.safe_load(text)
    if suffix == ".json":
        return json.loads(text)
    raise ConfigError(f"{path}: use a .toml, .yaml, .yml or .json file")


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    def resolve(section: dict[str, Any], key: str) -> None:
        value = section.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            section[key] = str(base / value)

    for key in ("feedback_db", "kb_dir"):
        resolve(data, key)
    auth = data.get("auth")
    if isinstance(auth, dict):
        resolve(auth, "replay_db")
    return data


def load_config(path: Path | None) -> ServiceConfig:
    """Read the settings file; ``None`` gives the defaults."""
    if path is None:
        return ServiceConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = _parse(path, text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.')}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table/mapping")
    if "insecure_no_auth" in data:
        raise ConfigError(
            f"{path}: insecure_no_auth cannot be set in a file; "
            "use the --insecure-no-auth flag for local development"
        )
    try:
        return ServiceConfig.model_validate(_resolve_paths(data, path.parent))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc
