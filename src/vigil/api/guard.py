"""The one access check every route goes through, and the marks routes carry for it.

:func:`current_user` is applied to every router in :func:`~vigil.api.app.create_app`. It
finds who the request is (a ``vigil_session`` cookie, a bearer token, or on the media GET
routes HTTP Basic) and refuses anonymous callers with 401 (E609). For anything that changes
state it also refuses a body that isn't JSON (415, E614; SDP on a WebRTC offer) and, unless
a bearer token is sent, a request that a browser says came from another site (403, E613).
Which cameras a principal may see is checked by the routes, after the lookup
(:func:`visible_camera`, :func:`require_camera`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Request

from vigil.api.errors import ApiError
from vigil.api.policy import HttpPolicy
from vigil.auth import LOCAL, Access, Principal
from vigil.auth.principal import Via

SESSION_COOKIE = "vigil_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAME_SITE = frozenset({"same-origin", "none"})  # none: typed in the address bar, a bookmark
F = TypeVar("F", bound=Callable[..., Any])


def media_route(endpoint: F) -> F:
    """Mark a GET route that players (VLC, Home Assistant) fetch: HTTP Basic counts there."""
    endpoint.vigil_basic = True  # type: ignore[attr-defined]
    return endpoint


def sdp_body(endpoint: F) -> F:
    """Mark a route whose body is an SDP offer (``application/sdp``), not JSON."""
    endpoint.vigil_body = "application/sdp"  # type: ignore[attr-defined]
    return endpoint


def _endpoint(request: Request) -> Any:
    route = request.scope.get("route")
    return getattr(route, "endpoint", None)


def _access(request: Request) -> Access | None:
    access: Access | None = request.app.state.services.access
    return access


def _policy(request: Request) -> HttpPolicy:
    policy: HttpPolicy = request.app.state.services.policy
    return policy


def client_address(request: Request) -> str:
    peer = request.client.host if request.client else None
    return _policy(request).client_address(peer, request.headers)


async def identify(request: Request) -> Principal | None:
    """Who the request is, or None. A bad bearer token or a throttled Basic login raises."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    access = _access(request)
    if access is None:
        return LOCAL
    principal = None
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        principal = access.token(value.strip())
        if principal is None:
            raise ApiError("the bearer token is unknown or revoked", code="E609")
    elif scheme == "basic" and getattr(_endpoint(request), "vigil_basic", False):
        name, password = _basic(value)
        principal = access.basic_remembered(name, password)
        if principal is None:  # argon2, off the event loop
            address = client_address(request)
            principal = await asyncio.to_thread(access.basic, name, password, address)
    if principal is None and (cookie := request.cookies.get(SESSION_COOKIE)):
        principal = access.session(cookie)
    request.state.principal = principal
    return principal


def _basic(value: str) -> tuple[str, str]:
    try:
        name, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return name, password


def check_request_origin(request: Request, principal: Principal | None) -> None:
    """415 for a state change whose body isn't JSON (or SDP where marked); 403 for one a
    browser says is cross-site, unless it carries a bearer token (a page can't send one)."""
    if request.method not in UNSAFE_METHODS:
        return
    wanted = getattr(_endpoint(request), "vigil_body", "application/json")
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if (ctype or has_body) and ctype != wanted:
        raise ApiError(f"the body must be {wanted}, not {ctype or 'untyped'}", code="E614")
    if principal is not None and principal.via is Via.TOKEN:
        return
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if (origin is not None and not _same_origin(origin, request)) or (
        site is not None and site not in _SAME_SITE
    ):
        raise ApiError("cross-site request refused", code="E613")


def _same_origin(origin: str, request: Request) -> bool:
    """The Origin names the Host the request was sent to (scheme's default port filled in)."""
    try:
        sent = urlsplit(origin)
        default = _DEFAULT_PORTS[sent.scheme]
        here = urlsplit("//" + request.headers.get("host", ""))
        return sent.hostname is not None and (sent.hostname, sent.port or default) == (
            here.hostname,
            here.port or default,
        )
    except (ValueError, KeyError):
        return False


async def current_user(request: Request) -> Principal:
    """The access check of every route but the public few: 401 (E609) for anyone unknown."""
    principal = await identify(request)
    check_request_origin(request, principal)
    if principal is None:
        basic = getattr(_endpoint(request), "vigil_basic", False)
        raise ApiError(
            "log in first",
            code="E609",
            headers={"WWW-Authenticate": 'Basic realm="vigil"'} if basic else None,
        )
    return principal


async def public_check(request: Request) -> None:
    """For the public routes (login): the same content-type and origin rules, no user."""
    check_request_origin(request, None)


UserDep = Annotated[Principal, Depends(current_user)]


def admin_user(user: UserDep) -> Principal:
    if not user.is_admin:
        raise ApiError("only an admin may do this", code="E610")
    return user


AdminDep = Annotated[Principal, Depends(admin_user)]


def require_camera(user: Principal, camera: str) -> None:
    """403 (E610) unless `user` may see `camera`: asked after the camera (or the recording,
    event or export naming it) was found, so a 404 still means "no such thing"."""
    if not user.sees(camera):
        raise ApiError(f"you may not see camera {camera!r}", code="E610")


def audit(
    request: Request, user: Principal, action: str, target: str | None = None, **extra: Any
) -> None:
    """Write an entry to the audit log (none without auth: there is no one to name)."""
    access = _access(request)
    if access is not None:
        detail = ", ".join(f"{k}={v}" for k, v in extra.items()) or None
        access.audit(action, user.name, client_address(request), target=target, detail=detail)
