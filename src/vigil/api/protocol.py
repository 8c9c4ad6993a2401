"""uvicorn's HTTP/1.1 protocol, with a deadline on receiving each request.

uvicorn closes a keep-alive connection that stays idle after a response
(``timeout_keep_alive``), but it has no deadline for the request itself: a client that
connects and sends nothing, or sends its head or its body a byte at a time (slowloris),
holds a connection, one of ``limit_concurrency``, for as long as it likes. Measured with
uvicorn 0.55: such a connection was still open after 30 s, and would stay open for ever.

:class:`BoundedH11Protocol` gives each request :data:`REQUEST_TIMEOUT` seconds from its first
byte (or from the connection, for the first one) until it is whole, head and body; then
the connection is closed. Answers are not bounded: MJPEG streams for as long as it is
watched. vigil's largest body is 256 KiB (api/shield.py), 20 s at about 100 kbit/s.

It also hands each request's scope a way to close its connection (:data:`ABORT`): ASGI
has none, and an answer that returns unfinished makes uvicorn log an error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT = 20.0  # seconds a request has to arrive whole, head and body
# scope["extensions"][ABORT](): close this connection now (a streaming answer whose reader
# is gone: the MJPEG send timeout), as a client disconnect, so uvicorn logs no error
ABORT = "vigil.abort"

_log = logging.getLogger(__name__)
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


class BoundedH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose request hasn't arrived whole
    within :attr:`request_timeout` seconds."""

    request_timeout: float = REQUEST_TIMEOUT
    _request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        scope = getattr(self, "scope", None)  # the request just parsed: its task runs later
        if scope is not None:
            scope.setdefault("extensions", {})[ABORT] = self._abort
        if self.conn.their_state in _RECEIVED:
            self._disarm()  # this request is whole; the answer takes as long as it takes
        elif self._request_timer is None:
            self._arm()  # the first bytes of the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._request_timer = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _abort(self) -> None:
        """Drop the connection now, unsent data and all (close() would wait for a reader
        that is gone); uvicorn then sees a client disconnect."""
        self.transport.abort()

    def _expired(self) -> None:
        self._request_timer = None
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            _log.info("closed %s: its request took over %.0f s", client, self.request_timeout)
            self.transport.close()


def http_options(protocol: type[H11Protocol] = BoundedH11Protocol) -> dict[str, Any]:
    """The uvicorn options every vigil server runs with (``vigil run``, the tests' servers,
    the benches): this protocol, and uvicorn's own proxy-header handling off (it would
    believe ``X-Forwarded-*`` from 127.0.0.1, so any local process could pick its address;
    :class:`~vigil.api.policy.HttpPolicy` decides instead)."""
    return {"http": protocol, "proxy_headers": False, "log_config": None, "access_log": False}
