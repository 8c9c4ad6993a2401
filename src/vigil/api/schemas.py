"""Response models of the API (pydantic at the edge)."""

from __future__ import annotations

from pydantic import BaseModel

from vigil.camera.input import InputStatus
from vigil.camera.supervisor import CameraStatus


class ErrorInfo(BaseModel):
    code: str
    message: str


class GovernorInfo(BaseModel):
    level: int
    reason: str


class InputOut(BaseModel):
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

    @classmethod
    def of(cls, status: InputStatus) -> InputOut:
        return cls(
            index=status.index,
            roles=status.roles,
            url=status.url,
            state=status.state.value,
            fps=status.fps,
            packets_per_s=status.packets_per_s,
            bytes_per_s=status.bytes_per_s,
            codec=status.codec,
            width=status.width,
            height=status.height,
            reconnects=status.reconnects,
            dropped=status.dropped,
            uptime=status.uptime,
            last_error=ErrorInfo(**status.last_error) if status.last_error else None,
            retry_in=status.retry_in,
        )


class CameraOut(BaseModel):
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

    @classmethod
    def of(cls, status: CameraStatus) -> CameraOut:
        return cls(
            name=status.name,
            enabled=status.enabled,
            state=status.state.value,
            inputs=[InputOut.of(i) for i in status.inputs],
            fps_in=status.fps_in,
            fps_detect=status.fps_detect,
            cpu_pct=status.cpu_pct,
            reconnects=status.reconnects,
            dropped=status.dropped,
            uptime=status.uptime,
            last_error=ErrorInfo(**status.last_error) if status.last_error else None,
            governor=None,
            hwaccel=status.hwaccel,
        )


class CameraList(BaseModel):
    cameras: list[CameraOut]


class CameraHealth(BaseModel):
    state: str
    last_error: ErrorInfo | None


class Health(BaseModel):
    status: str  # "ok" when every enabled camera streams, else "degraded"
    version: str
    uptime: float
    cameras: dict[str, CameraHealth]
