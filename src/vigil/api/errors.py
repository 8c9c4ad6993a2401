"""Every error answered as ``{"code", "message", "errors": [{"path", "code", "message"}]}``.

This is the one place where an error becomes an HTTP status: a :class:`~vigil.errors.VigilError`
carries a code, and the code's catalogue entry gives the status (:func:`http_status`). A
config error raised by a request (a camera's body that doesn't validate) is the request's
fault: 422 with E602, each bad field in ``errors``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.config import format_path
from vigil.errors import CATALOGUE, ConfigError, FieldError, RequestError, VigilError

_log = logging.getLogger(__name__)
_STATUS_CODES = {404: "E604", 405: "E605", 413: "E616"}


class ApiError(RequestError):
    """An error raised by a route. Its status is its code's, unless the route gives one where
    HTTP's meaning differs for that request (a backwards time range is a 400 E602)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message, code=code, errors=errors)
        self.status = status
        self.headers = headers


def answered_code(error: VigilError) -> str:
    """The code an answer carries: a config error raised by a request is the request's fault
    (E602, its fields in ``errors``); any other error carries its own."""
    return "E602" if isinstance(error, ConfigError) else error.code


def http_status(error: VigilError) -> int:
    """The HTTP status of an answer carrying `error`: its own where it gives one (a live
    input whose codec isn't known yet is a 503 E503, docs/api.md), else its code's, from the
    catalogue."""
    if error.status is not None:
        return error.status
    return CATALOGUE[answered_code(error)].status


def error_response(
    status: int,
    code: str,
    message: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"code": code, "message": message, "errors": [e.as_dict() for e in errors or []]}
    return JSONResponse(body, status_code=status, headers=headers)


def _headers(error: VigilError) -> dict[str, str] | None:
    """Retry-After on a throttled login, WWW-Authenticate where Basic is offered."""
    headers = dict(getattr(error, "headers", None) or {})
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers or None


async def _vigil_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigilError)
    errors = exc.errors if isinstance(exc, ConfigError | RequestError) else None
    return error_response(http_status(exc), answered_code(exc), exc.message, errors, _headers(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for item in exc.errors():
        loc = tuple(item.get("loc", ()))
        if loc[:1] == ("body",):
            loc = loc[1:]
        code = item.get("type", "")
        if not (len(code) == 4 and code.startswith("E")):
            code = "E602"
        errors.append(FieldError(format_path(loc), code, str(item.get("msg", "invalid"))))
    return error_response(422, "E602", "the request is invalid", errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "E602" if exc.status_code < 500 else "E600")
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("[E600] unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "E600", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VigilError, _vigil_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
