"""Response models of the API (pydantic at the edge), read from the camera snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigil.camera.changes import public_config
from vigil.camera.manager import CameraManager
from vigil.camera.supervisor import CameraStatus
from vigil.config import CameraConfig


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorInfo(_Out):
    code: str
    message: str


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
        403: "refused (E608: a local source)",
        404: "no such camera (E601) or item",
        409: "conflict (E603: the name is taken)",
        422: "invalid fields (E602, each in `errors`)",
        503: "not available now",
    }
    return {s: {"model": ErrorOut, "description": text.get(s, "error")} for s in statuses}


class GovernorInfo(_Out):
    level: int
    reason: str


class DetectInfo(_Out):
    input: int  # index of the input detection decodes
    mode: str  # full | keyframes
    hwaccel: str  # the decoder in use: software, cuda, v4l2m2m
    events: int
    idle_switches: int
    catch_ups: int
    governor_steps: int  # level changes the governor made
    frames: dict[str, int]  # decoded / processed counts by mode


class InputOut(_Out):
    index: int
    roles: list[str]
    url: str
    state: str
    fps: float
    packets_per_s: float
    bytes_per_s: float
    codec: str | None
    width: int | None
    height: int | None
    reconnects: int
    dropped: int
    uptime: float | None
    last_error: ErrorInfo | None
    retry_in: float | None


class CameraOut(_Out):
    name: str
    enabled: bool
    state: str
    inputs: list[InputOut]
    fps_in: float
    fps_detect: float | None
    cpu_pct: float | None
    reconnects: int
    dropped: int
    uptime: float | None
    last_error: ErrorInfo | None
    governor: GovernorInfo | None
    hwaccel: str
    detect: DetectInfo | None = None
    viewers: int = 0  # MJPEG, WebRTC and snapshot-on-demand viewers now
    config: dict[str, Any] | None = Field(
        None, description="The camera's config; passwords left out, URL credentials redacted."
    )


def camera_out(manager: CameraManager, status: CameraStatus) -> CameraOut:
    out = CameraOut.model_validate(status)
    out.config = public_config(manager.get(status.name).config)
    return out


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
    last_error: ErrorInfo | None


class Health(_Out):
    status: str  # "ok" when every enabled camera streams, else "degraded"
    version: str
    uptime: float
    cameras: dict[str, CameraHealth]
