"""The outermost layer of every HTTP request, before any routing: the Host check, the body
cap, and the security headers on every answer.

It is plain ASGI (no request objects) because it runs on every request, a polled snapshot
grid's included:

- a ``Host`` not in ``server.allowed_hosts`` is 400 (E615): a DNS-rebinding page's requests
  carry its own name, so they never reach a route;
- a body is counted while it is read: past :data:`JSON_LIMIT` (:data:`SDP_LIMIT` for SDP)
  the request is answered 413 (E616) and the rest is never read, whatever
  ``Content-Length`` claims;
- every answer carries a CSP of self only, ``frame-ancestors 'none'``, nosniff and a
  Referrer-Policy.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from vigil.api.policy import HttpPolicy
from vigil.errors import CATALOGUE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_LIMIT = 256 * 1024
SDP_LIMIT = 64 * 1024
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing passes it on and
    the error handlers answer it as 413 (E616)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the body is over {limit // 1024} KiB")


class Shield:
    def __init__(self, app: App, policy: HttpPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.policy.host_allowed(host):
            await _refuse(send, "E615", f"host {host[:100]!r} is not in server.allowed_hosts")
            return
        limit = (
            SDP_LIMIT
            if headers.get(b"content-type", b"").startswith(b"application/sdp")
            else JSON_LIMIT
        )
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, "E616", f"the body is over {limit // 1024} KiB")
            return
        started = False

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counted.total += len(message.get("body", b""))  # type: ignore[attr-defined]
                if counted.total > limit:  # type: ignore[attr-defined]
                    raise BodyTooLarge(limit)
            return message

        counted.total = 0  # type: ignore[attr-defined]

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, counted, secured)
        except BodyTooLarge:
            if not started:
                await _refuse(send, "E616", f"the body is over {limit // 1024} KiB")


async def _refuse(send: Send, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message, "errors": []}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": CATALOGUE[code].status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
