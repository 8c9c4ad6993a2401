"""Models of the API's bodies and answers that aren't the core's own: the camera body, the
errors, the health. A camera answers as :class:`~vigil.camera.status.CameraStatus` itself."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.camera.cameras import Cameras
from vigil.camera.changes import public_config
from vigil.camera.status import CameraStatus
from vigil.config import CameraConfig
from vigil.errors import ErrorDetail


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FieldErrorOut(_Out):
    path: str = Field(description="The bad field, as `vigil check-config` names it.")
    code: str
    message: str


class ErrorOut(_Out):
    """Every error: a stable code (docs/errors.md), a message, and the bad fields if any."""

    code: str = Field(description="E6xx etc.; see docs/errors.md")
    message: str
    errors: list[FieldErrorOut] = Field(default_factory=list)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route gives."""
    text = {
        400: "bad request (E6xx)",
        401: "not logged in (E609), or a wrong password (E611)",
        403: "not allowed (E610), cross-site (E613) or a local source (E608)",
        404: "no such camera (E601) or item",
        409: "conflict (E603: the name is taken)",
        413: "body too large (E616)",
        415: "not JSON (E614)",
        422: "invalid fields (E602, each in `errors`)",
        429: "too many login attempts (E612); see Retry-After",
        503: "not available now",
    }
    return {s: {"model": ErrorOut, "description": text.get(s, "error")} for s in statuses}


@dataclass(frozen=True, slots=True)
class CameraOut(CameraStatus):
    """A camera as the API shows it: its status, and its config as set (defaults left out;
    no password, credentials in URLs redacted)."""

    config: dict[str, Any] | None = None


def camera_out(manager: Cameras, status: CameraStatus) -> CameraOut:
    """`status` with the camera's public config."""
    fields = {f.name: getattr(status, f.name) for f in dataclasses.fields(status)}
    return CameraOut(**fields, config=public_config(manager.config(status.name)))


class CameraIn(CameraConfig):
    """A camera as POSTed: `name` plus the fields of a camera in the config file."""

    name: str = Field(description="The camera's name: letters, digits, `_` and `-`.")


@dataclass(frozen=True)
class _CameraBody:
    """The request body of POST/PUT, documented as :class:`CameraIn` but validated as a part
    of the config file (so errors carry check-config's codes and paths)."""

    examples: dict[str, Any] = field(
        default_factory=lambda: {
            "rtsp": {
                "summary": "an RTSP camera that records and detects",
                "value": {
                    "name": "driveway",
                    "inputs": [
                        {
                            "url": "rtsp://192.168.1.20:554/stream1",
                            "username": "viewer",
                            "password": "secret",
                        }
                    ],
                },
            }
        }
    )

    def openapi(self, note: str) -> dict[str, Any]:
        ref = {"$ref": "#/components/schemas/CameraIn"}
        return {
            "requestBody": {
                "description": f"the camera's config, {note}",
                "content": {"application/json": {"schema": ref}},
                "required": True,
            }
        }


CAMERA_BODY = _CameraBody()


class CameraList(_Out):
    cameras: list[CameraOut]


class CameraHealth(_Out):
    state: str
    last_error: ErrorDetail | None = None


class HealthStatus(_Out):
    """What anyone may know: whether the service is well, nothing more."""

    status: str  # "ok" when every enabled camera streams, else "degraded"; "error": storage


class Health(HealthStatus):
    version: str
    uptime: float
    cameras: dict[str, CameraHealth]
    storage_error: ErrorDetail | None = None  # E409: the storage folder was refused at start
