"""What every request handler shares: settings, knowledge base, clients, store.

Also the few cross-cutting helpers handlers need: authentication of the call
(the JWT ``aud`` must be the URL called), the assessment date, the salted
correlation key for logs, and the error type handlers raise.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from rccnav.adapters.service.auth import AuthError, JwtVerifier
from rccnav.adapters.service.cache import AnswerCache
from rccnav.adapters.service.compute import Assessor
from rccnav.adapters.service.config import ServiceConfig
from rccnav.adapters.service.feedback import FeedbackStore
from rccnav.adapters.service.fhir_client import FhirFetcher
from rccnav.adapters.service.models import validation_outcome
from rccnav.knowledge.model import KnowledgeBase

auth_log = logging.getLogger("rccnav.service.auth")

M = TypeVar("M", bound=BaseModel)
_SAFE_TOKEN = re.compile(r"[^A-Za-z0-9._:-]")


class Unauthorized(Exception):
    """Answered as a bare 401: no body, no reason."""


class ServiceError(Exception):
    """An error answered with ``status`` and an OperationOutcome body."""

    def __init__(
        self, status: int, outcome: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.outcome = outcome
        self.headers = headers or {}


def parse_body(model: type[M], body: bytes) -> M:
    """Strictly validate a JSON body; 400 with an OperationOutcome naming each bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise ServiceError(400, validation_outcome(exc)) from None


def log_token(value: str, limit: int = 64) -> str:
    """A request-supplied token made safe for one log field."""
    return _SAFE_TOKEN.sub("_", value[:limit])


@dataclass
class ServiceState:
    config: ServiceConfig
    kb: KnowledgeBase
    verifier: JwtVerifier | None
    fetcher: FhirFetcher
    store: FeedbackStore
    salt: bytes
    templates: dict[str, str]
    cache: AnswerCache
    assessor: Assessor

    @classmethod
    def salt_from(cls, config: ServiceConfig) -> bytes:
        return config.log_salt.encode() if config.log_salt else secrets.token_bytes(32)

    def assessment_date(self) -> date:
        return self.config.assessment_date or date.today()

    def correlation_key(self, patient_id: str) -> str:
        """A salted hash: lets logs of one patient be joined without naming them."""
        return hmac.new(self.salt, patient_id.encode(), hashlib.sha256).hexdigest()[:16]

    def audience(self, path: str) -> str:
        """The JWT ``aud`` a call to ``path`` must carry: the public base URL plus the path.

        Never derived from the request (Host header): a token minted for another
        service at the same path must not pass. ``build_state`` refuses to start
        with authentication on and no ``public_base_url``.
        """
        assert self.config.public_base_url is not None
        return self.config.public_base_url + path

    @staticmethod
    def note(request: Request, **fields: str) -> None:
        log: dict[str, str] | None = getattr(request.state, "log", None)
        if log is not None:
            log.update(fields)

    async def authenticate_scope(self, scope: MutableMapping[str, Any]) -> bool:
        """Verify the call's JWT from its headers alone (the body is not read yet)."""
        if self.verifier is None:
            return True
        authorization = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        path: str = scope["path"]
        try:
            client = await self.verifier.verify(authorization, self.audience(path))
        except AuthError as exc:
            reason = "".join(ch if ch.isprintable() else "?" for ch in exc.reason)[:300]
            auth_log.info("refused %s %s: %s", scope["method"], log_token(path, 128), reason)
            return False
        log: dict[str, str] | None = scope.get("state", {}).get("log")
        if log is not None:
            log["iss"] = log_token(client.iss, 128)
        return True

    async def authenticate(self, request: Request) -> None:
        """Defence in depth: the guard middleware must have authenticated this call."""
        if self.verifier is None:
            return
        if not getattr(request.state, "authenticated", False):
            raise Unauthorized()
