"""The config file's models (pydantic): every key, its type, default and description.

Every key here is part of vigil's contract with its users; `docs/config.md` is generated
from the descriptions below (``python -m vigil.config.doc``) and a test keeps it in step.
"""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vigil.const import CAMERA_NAME_PATTERN
from vigil.sources.url import SourceSpec, SourceURLError, parse_source

MAX_URL = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class TlsConfig(_Model):
    cert: str | None = Field(None, description="PEM certificate (chain) file; null = plain HTTP.")
    key: str | None = Field(None, description="PEM private key file.")

    @model_validator(mode="after")
    def _both(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise PydanticCustomError("E103", "tls needs both cert and key", {})
        return self


MAX_WORKERS = 256


class ServerConfig(_Model):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port of the HTTP server.")
    nice: int = Field(
        0, ge=0, le=19, description="Process niceness, applied before any thread starts."
    )
    webrtc_ice_servers: list[str] = Field(
        default_factory=list,
        description="STUN/TURN URLs for WebRTC (stun:host:port); none by default, for "
        "offline networks: viewers on the same network need none.",
    )
    webrtc_interfaces: list[str] | None = Field(
        None,
        description="Interface names (eth0) or addresses WebRTC media binds its UDP ports "
        "on; null = server.host's address (every interface's when it is 0.0.0.0 or ::).",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host headers the server answers (DNS rebinding defence); null = the "
        "bound address, localhost, 127.0.0.1, [::1] and the machine's name (and its "
        "addresses when bound to 0.0.0.0).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "count; nothing else is believed.",
    )
    camera_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs camera hosts must be in; empty = anywhere but link-local and the "
        "cloud metadata services (docs/security.md).",
    )
    tls: TlsConfig = Field(
        default_factory=lambda: TlsConfig(), description="HTTPS, with a certificate and key."
    )
    mjpeg_max_viewers: int = Field(
        64, ge=1, le=10000, description="MJPEG viewers at once, all cameras together."
    )
    workers: int | Literal["auto"] = Field(
        1,
        description="Camera worker processes. 1 runs every camera in the main process; N "
        "(up to 256), or auto (one per usable core), spreads the cameras over N processes, "
        "balanced by "
        "their measured CPU, so that Python work is not held to one core by the GIL. A "
        "worker that dies is started again. Live view works either way: MJPEG and snapshots "
        "are encoded once in the worker, and WebRTC media leaves from the worker.",
    )

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> object:
        if value == "auto" or (type(value) is int and 1 <= value <= MAX_WORKERS):
            return value
        raise PydanticCustomError(
            "E103", f"{value!r}: workers is a number from 1 to {MAX_WORKERS}, or auto", {}
        )

    @field_validator("trusted_proxies", "camera_networks")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise PydanticCustomError("E103", f"{value!r} is not a CIDR network", {}) from None
        return values

    @property
    def worker_count(self) -> int:
        """`workers` as a number: auto is the cores this process may run on."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.workers

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


class AuthConfig(_Model):
    enabled: bool = Field(
        True,
        description="Users, sessions and tokens (docs/security.md); false only on a loopback "
        "server.host.",
    )
    audit_days: float = Field(90, gt=0, le=3650, description="Days the audit log is kept.")
    session_idle_hours: float = Field(
        12, gt=0, le=24 * 90, description="A session unused this long ends."
    )
    session_max_days: float = Field(
        7, gt=0, le=365, description="A session ends this long after its login, used or not."
    )


class RetentionConfig(_Model):
    days: float = Field(7, gt=0, description="Days continuous footage is kept.")
    events_days: float = Field(30, gt=0, description="Days footage with events is kept.")
    max_size_gb: float | None = Field(
        None, gt=0, description="Cap on all recordings, in GB; oldest deleted first."
    )
    min_free_gb: float = Field(
        1, ge=0, description="Below this free space (GB), the oldest footage is deleted at once."
    )


class StorageConfig(_Model):
    path: str = Field("./vigil-data", description="Folder of the recordings (may be a share).")
    db_path: str | None = Field(
        None, description="Database file; default {path}/vigil.db. Keep it on a local disk."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="How long footage is kept."
    )

    @property
    def database(self) -> Path:
        return Path(self.db_path) if self.db_path else Path(self.path) / "vigil.db"


class GovernorConfig(_Model):
    cpu_high: float = Field(
        80, gt=0, le=100, description="% of the whole machine past which detection steps down."
    )
    cpu_critical: float = Field(
        85,
        gt=0,
        le=100,
        description="% of the whole machine past which detection may move to a lower-res input.",
    )
    cpu_low: float = Field(
        60, gt=0, le=100, description="% of the whole machine below which it steps back up."
    )
    hold_seconds: float = Field(30, gt=0, description="Seconds a level holds before a change.")

    @model_validator(mode="after")
    def _ordered(self) -> GovernorConfig:
        if not self.cpu_low < self.cpu_high <= self.cpu_critical:
            raise PydanticCustomError("E103", "need cpu_low < cpu_high <= cpu_critical", {})
        return self


class Role(StrEnum):
    RECORD = "record"
    DETECT = "detect"
    LIVE = "live"


class InputConfig(_Model):
    url: str = Field(
        description="rtsp://, rtsps://, rtmp://, http(s):// (MJPEG or HLS), file:// or usb://."
    )
    username: str | None = Field(None, description="User name, if not inside the URL.")
    password: SecretStr | None = Field(
        None, description="Password; write-only through the API, never shown or logged."
    )
    roles: list[Role] = Field(
        default_factory=lambda: [Role.RECORD, Role.DETECT, Role.LIVE],
        description="What this input is used for: record, detect, live.",
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        if len(url) > MAX_URL:
            raise PydanticCustomError("E117", f"the URL is {len(url)} characters, over 2 KiB", {})
        try:
            parse_source(url)
        except SourceURLError as err:
            raise PydanticCustomError(err.code, err.message, {}) from None
        return url

    @field_validator("username")
    @classmethod
    def _printable_user(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise PydanticCustomError("E116", "the user name holds a control character", {})
        return value

    @field_validator("password")
    @classmethod
    def _printable_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and _CONTROL.search(value.get_secret_value()):
            raise PydanticCustomError("E116", "the password holds a control character", {})
        return value

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, roles: list[Role]) -> list[Role]:
        if len(set(roles)) != len(roles):
            raise PydanticCustomError("E115", "a role is listed twice", {})
        return roles

    def source(self) -> SourceSpec:
        """The validated source, with the credentials merged in."""
        secret = self.password.get_secret_value() if self.password else None
        return parse_source(self.url, self.username, secret)


class RecordConfig(_Model):
    mode: Literal["continuous", "events", "off"] = Field(
        "continuous", description="continuous | events | off."
    )
    segment_seconds: float = Field(60, ge=2, le=3600, description="Target segment length.")
    fsync_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How often the open segment is flushed to disk (fdatasync), so that a "
        "power loss loses at most about this much; 0 = left to the kernel (up to ~30 s).",
    )
    queue_seconds: float = Field(
        0.8,
        ge=0.6,
        le=60,
        description="How far the recorder may fall behind the camera (a slow disk, a busy "
        "machine) before packets are dropped, counted and logged (E415). A kill -9 loses what "
        "is queued, plus the 0.2 s fragment being filled: the default keeps that under 1 s. "
        "Raise it for a disk that stalls now and then (a network share).",
    )
    codec: Literal["copy", "h264", "h265"] = Field(
        "copy", description="copy (no re-encode) | h264 | h265 (re-encode, costs CPU)."
    )
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = (
        Field("veryfast", description="x264/x265 preset when re-encoding (speed vs size).")
    )
    quality: int | None = Field(
        None, ge=0, le=51, description="CRF when re-encoding (lower = better); encoder default."
    )
    encoder: Literal["auto", "software", "nvenc", "qsv"] = Field(
        "auto", description="Re-encoding: auto tries NVENC, then QSV, then software."
    )
    pre_seconds: float = Field(5, ge=0, le=60, description="Seconds kept before an event.")
    post_seconds: float = Field(10, ge=0, le=600, description="Seconds kept after an event.")
    retention_days: float | None = Field(
        None, gt=0, description="Per camera; overrides storage.retention.days."
    )
    max_size_gb: float | None = Field(None, gt=0, description="Cap on this camera's footage.")
    export_max_minutes: float = Field(
        120, gt=0, le=1440, allow_inf_nan=False, description="Longest export, in minutes."
    )


Point = tuple[float, float]


class Zone(_Model):
    name: str = Field(description="Name reported with events.")
    points: list[Point] = Field(
        min_length=3, description="Polygon corners as [x, y] fractions of the frame (0-1)."
    )


class MotionConfig(_Model):
    threshold: int = Field(25, ge=1, le=255, description="Pixel difference that counts.")
    min_area: float = Field(
        0.002, gt=0, le=1, description="Fraction of the frame that must change."
    )
    event_gap_seconds: float = Field(
        10, ge=0, description="Motion closer than this continues the same event."
    )
    zones: list[Zone] = Field(default_factory=list, description="Named zones; empty = whole frame.")
    masks: list[list[Point]] = Field(
        default_factory=list, description="Polygons ignored by detection, as fractions."
    )


class DetectConfig(_Model):
    enabled: bool = Field(True, description="Run motion detection.")
    fps: float = Field(
        5,
        gt=0,
        le=60,
        description="Frames processed per second; never more than every 2nd source frame.",
    )
    width: int = Field(320, ge=64, le=1920, description="Width frames are scaled to.")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion settings.")
    idle_keyframes_after_seconds: float | None = Field(
        60, gt=0, description="After this long without motion decode key frames only; null = off."
    )
    framebus: bool = Field(
        False, description="Publish detection frames in shared memory (docs/framebus.md)."
    )
    framebus_group: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$",
        description="A group whose members may read the frame bus (its file becomes 0640, "
        "of that group; vigil's user must be in it); null = vigil's user only (0600).",
    )


class LiveConfig(_Model):
    mjpeg_fps: float = Field(10, gt=0, le=30, description="MJPEG frame rate.")
    mjpeg_width: int = Field(960, ge=64, le=3840, description="MJPEG width.")
    webrtc_max_sessions: int = Field(8, ge=0, le=64, description="WebRTC viewers at once.")
    mjpeg_max_viewers: int = Field(16, ge=1, le=1000, description="MJPEG viewers at once.")
    idle_stop_seconds: float = Field(
        300, gt=0, description="A live-only camera disconnects after this long unwatched."
    )


class CameraConfig(_Model):
    enabled: bool = Field(True, description="Start the camera with the service.")
    inputs: list[InputConfig] = Field(min_length=1, description="The camera's streams.")
    hwaccel: Literal["auto", "none", "cuda", "v4l2m2m"] = Field(
        "auto", description="auto | none | cuda | v4l2m2m; auto falls back to software."
    )
    record: RecordConfig = Field(default_factory=RecordConfig, description="Recording.")
    detect: DetectConfig = Field(default_factory=DetectConfig, description="Motion detection.")
    live: LiveConfig = Field(default_factory=LiveConfig, description="Live view.")

    @model_validator(mode="after")
    def _roles(self) -> CameraConfig:
        seen: set[Role] = set()
        for item in self.inputs:
            for role in item.roles:
                if role in seen:
                    raise PydanticCustomError("E115", f"role {role} is on more than one input", {})
                seen.add(role)
        if self.record.mode != "off" and Role.RECORD not in seen:
            raise PydanticCustomError(
                "E115", f"record.mode is {self.record.mode} but no input has the record role", {}
            )
        return self

    def input_for(self, role: Role) -> InputConfig | None:
        return next((i for i in self.inputs if role in i.roles), None)


CameraName = Annotated[str, Field(pattern=CAMERA_NAME_PATTERN)]


class VigilConfig(_Model):
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP server.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Who may do what.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage.")
    governor: GovernorConfig = Field(default_factory=GovernorConfig, description="CPU governor.")
    cameras: dict[CameraName, CameraConfig] = Field(
        default_factory=dict, description="Cameras by name."
    )
