"""uvicorn's HTTP/1.1 protocol with a deadline for the request head.

uvicorn closes an idle kept-alive connection after ``timeout_keep_alive``, but
the timer stops at the first byte received, and nothing bounds the time a client
takes to send the request line and headers. A client sending one byte every few
seconds then holds a connection (and counts against ``limit_concurrency``)
forever. Here a client has ``timeout_keep_alive`` seconds, from connecting or
from the end of the previous response, to complete a request head; otherwise
the connection is closed. A head larger than ``MAX_HEAD_BYTES`` also closes it
(httptools itself does not bound header size). The body has its own deadline in the application
(``limits.body_timeout_seconds``), which applies only after authentication.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

_Base: Any = AutoHTTPProtocol

#: Request line and headers together; a CDS Hooks call needs a few kilobytes.
MAX_HEAD_BYTES = 64 * 1024


class HeadDeadlineProtocol(_Base):  # type: ignore[misc]
    """The default uvicorn HTTP/1.1 protocol (httptools, else h11) with a head deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_cycle: object = None
        self._head_bytes = 0

    def _arm_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_cycle = self.cycle
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_overdue)

    def _waiting_for_head(self) -> bool:
        cycle: Any = self.cycle
        done = cycle is None or bool(cycle.response_complete)
        return done and cycle is self._head_cycle

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self._waiting_for_head():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self.transport.close()

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_deadline()
