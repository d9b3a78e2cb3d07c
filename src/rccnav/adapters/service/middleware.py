"""ASGI middleware: authentication first (401), body deadline (408) and size limit
(413), overload shedding (503), access log.

Plain ASGI, not Starlette's ``BaseHTTPMiddleware``, to keep the per-request
cost small. Under overload the service refuses work it cannot start promptly:
at most ``max_concurrent_requests`` authenticated hook/API calls, whose bodies
have arrived, run at once and the rest are answered 503 with ``Retry-After`` at
once, so accepted calls keep their latency and the process keeps its memory.
Feedback has its own budget so a burst of hook calls never makes the service
refuse (and so lose) feedback.

The access log line carries method, path, status, duration, and what handlers
put in ``scope["state"]["log"]`` (service id, hookInstance, a salted hash of
the patient id): never a token, a patient identifier or a clinical value.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from rccnav.adapters.service.models import operation_outcome

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("rccnav.service.access")

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


async def send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/fhir+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _bucket(method: str, path: str) -> str | None:
    if method != "POST":
        return None
    if path.startswith("/cds-services/") and path.endswith("/feedback"):
        return "feedback"
    if path.startswith(("/cds-services/", "/api/")):
        return "work"
    return None


Authenticate = Callable[[Scope], Awaitable[bool]]


def _protected(path: str) -> bool:
    """Paths that need a CDS Client JWT (everything but health, readiness and docs)."""
    return path == "/cds-services" or path.startswith(("/cds-services/", "/api/"))


class GuardMiddleware:
    """Authentication, body deadline and size limit, work slots, access log; in that order.

    The JWT is verified from the headers before a byte of the body is read, so an
    unauthenticated client costs one signature check and is answered 401 at once;
    an authenticated client then has ``body_timeout`` seconds to send at most
    ``max_body_bytes``. Only then is a work slot taken: a slow or unauthenticated
    sender never holds one.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_work: int,
        max_feedback: int,
        auth_note: str,
        authenticate: Authenticate | None = None,
        body_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.limits = {"work": max_work, "feedback": max_feedback}
        self.inflight = {"work": 0, "feedback": 0}
        self.auth_note = auth_note
        self.authenticate = authenticate
        self.body_timeout = body_timeout
        self.refused = 0

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, Message | None]:
        """The whole body, or None if it exceeds the limit (and the message that ended it)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None, None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_body
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        fields: dict[str, str] = {}
        state = scope.setdefault("state", {})
        state["log"] = fields
        status = [0]
        logged = False

        async def send_status(message: Message) -> None:
            nonlocal logged
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Logged before the last byte leaves, so the line exists once the client
                # has its answer.
                logged = True
                self._log(scope, status[0], started, fields)
            await send(message)

        try:
            await self._guarded(scope, receive, send_status)
        finally:
            if not logged:
                self._log(scope, status[0], started, fields)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_body = scope["method"] in _BODY_METHODS
        # An early answer leaves the body unread: close the connection after it.
        early = [(b"connection", b"close")] if has_body else []
        too_large = operation_outcome(
            f"request body exceeds {self.max_body} bytes", code="too-costly"
        )
        if has_body and self._declared_too_large(scope):
            # Known from the headers alone: refused before any other work.
            await send_json(send, 413, too_large, early)
            return
        if self.authenticate is not None and _protected(scope["path"]):
            if not await self.authenticate(scope):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"www-authenticate", b"Bearer"),
                            (b"content-length", b"0"),
                            *early,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            scope["state"]["authenticated"] = True
        if not has_body:
            await self._in_slot(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.body_timeout):
                body, ended = await self._read_body(receive)
        except TimeoutError:
            slow = operation_outcome(
                f"the request body did not arrive within {self.body_timeout:g} s", code="timeout"
            )
            await send_json(send, 408, slow, early)
            return
        if body is None:
            await send_json(send, 413, too_large, early)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            if ended is not None:
                return ended
            return await receive()

        await self._in_slot(scope, replay, send)

    async def _in_slot(self, scope: Scope, receive: Receive, send: Send) -> None:
        bucket = _bucket(scope["method"], scope["path"])
        if bucket is None:
            await self.app(scope, receive, send)
            return
        if self.inflight[bucket] >= self.limits[bucket]:
            self.refused += 1
            outcome = operation_outcome(
                "the service is at capacity; retry shortly", code="throttled"
            )
            await send_json(send, 503, outcome, [(b"retry-after", b"1")])
            return
        self.inflight[bucket] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight[bucket] -= 1

    def _log(self, scope: Scope, status: int, started: float, fields: dict[str, str]) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        elapsed = (time.perf_counter() - started) * 1000
        extra = "".join(f" {k}={v}" for k, v in fields.items())
        access_log.info(
            "%s %s %d %.1fms%s auth=%s",
            scope["method"],
            scope["path"],
            status,
            elapsed,
            extra,
            self.auth_note,
        )
