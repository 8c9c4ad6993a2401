"""Response models of the API (pydantic at the edge), read from the camera snapshots."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorInfo(_Out):
    code: str
    message: str


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
