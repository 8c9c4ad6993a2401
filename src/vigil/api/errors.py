"""Every error answered as ``{"code", "message", "errors": [{"path", "code", "message"}]}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.config import format_path
from vigil.errors import ApiError, ConfigError, FieldError, VigilError

_log = logging.getLogger(__name__)
_STATUS_CODES = {404: "E604", 405: "E605"}


def error_response(
    status: int, code: str, message: str, errors: list[FieldError] | None = None
) -> JSONResponse:
    body = {"code": code, "message": message, "errors": [e.as_dict() for e in errors or []]}
    return JSONResponse(body, status_code=status)


async def _vigil_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigilError)
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.errors)
    if isinstance(exc, ConfigError):
        return error_response(422, "E602", exc.message, exc.errors)
    return error_response(400, exc.code, exc.message)


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
