"""The config file: pydantic models, loading with ``${VAR}`` substitution, and its errors.

Every key here is part of the contract in DESIGN.md; `docs/config.md` is generated from the
descriptions below (``python -m vigil.config_doc``) and a test keeps it in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vigil.const import CAMERA_NAME_PATTERN
from vigil.errors import ConfigError, FieldError
from vigil.sources.url import SourceSpec, SourceURLError, parse_source


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


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
        try:
            parse_source(url)
        except SourceURLError as err:
            raise PydanticCustomError(err.code, err.message, {}) from None
        return url

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
    export_max_minutes: float = Field(120, gt=0, description="Longest export, in minutes.")


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


class LiveConfig(_Model):
    mjpeg_fps: float = Field(10, gt=0, le=30, description="MJPEG frame rate.")
    mjpeg_width: int = Field(960, ge=64, le=3840, description="MJPEG width.")
    webrtc_max_sessions: int = Field(8, ge=0, le=64, description="WebRTC viewers at once.")
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
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage.")
    governor: GovernorConfig = Field(default_factory=GovernorConfig, description="CPU governor.")
    cameras: dict[CameraName, CameraConfig] = Field(
        default_factory=dict, description="Cameras by name."
    )


# ---- loading ---------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PYDANTIC_CODES = {"extra_forbidden": "E102", "missing": "E104", "string_pattern_mismatch": "E103"}


def expand_vars(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute ``${VAR}`` and ``${VAR:-default}``; return the text and missing names."""
    missing: list[str] = []

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return match.group(0)

    return _VAR.sub(sub, text), missing


def format_path(loc: tuple[int | str, ...]) -> str:
    """``("cameras", "a", "inputs", 0, "url")`` -> ``cameras.a.inputs[0].url``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _walk(
    node: Any, loc: tuple[int | str, ...] = ()
) -> Iterator[tuple[tuple[int | str, ...], Any, Any]]:
    """Yield (path, container, key) for every scalar in a loaded YAML tree."""
    items: Any
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _walk(value, (*loc, key))
        else:
            yield (*loc, key), node, key


def line_of(doc: Any, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of `loc` in a ruamel round-trip tree, as far as it can be followed."""
    node, line = doc, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                pos = lc.key(part) if isinstance(node, dict) else lc.item(part)
                line = int(pos[0]) + 1
            node = node[part]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def parse_yaml(text: str, file: str) -> Any:
    """Load YAML in round-trip mode (comments kept); raise E101/E105 with the line."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except DuplicateKeyError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(
            "duplicate key",
            file=file,
            errors=[FieldError("", "E105", _yaml_problem(err), line)],
        ) from None
    except MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ConfigError(
            "YAML syntax error",
            file=file,
            errors=[FieldError("", "E101", _yaml_problem(err), line)],
        ) from None
    except YAMLError as err:
        raise ConfigError(
            "YAML syntax error", file=file, errors=[FieldError("", "E101", str(err))]
        ) from None


def _yaml_problem(err: MarkedYAMLError) -> str:
    parts = [p for p in (err.context, err.problem) if p]
    return "; ".join(str(p).strip().splitlines()[0] for p in parts) or "invalid YAML"


def validate_data(
    raw: Any, file: str = "<config>", env: Mapping[str, str] | None = None
) -> VigilConfig:
    """Substitute variables in a loaded tree and validate it, reporting every error at once."""
    env = os.environ if env is None else env
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "config must be a mapping",
            file=file,
            errors=[FieldError("", "E103", "the top level must be a mapping of keys")],
        )
    data = plain(raw)
    errors: list[FieldError] = []
    var_paths: set[tuple[int | str, ...]] = set()
    for loc, container, key in list(_walk(data)):
        value = container[key]
        if isinstance(value, str) and "${" in value:
            expanded, missing = expand_vars(value, env)
            container[key] = expanded
            for name in missing:
                var_paths.add(loc)
                errors.append(
                    FieldError(
                        format_path(loc),
                        "E106",
                        f"environment variable {name} is not set",
                        line_of(raw, loc),
                    )
                )
    try:
        config = VigilConfig.model_validate(data)
    except ValidationError as err:
        for item in err.errors():
            loc = tuple(part for part in item["loc"] if part != "[key]")
            if any(loc[: len(p)] == p for p in var_paths):
                continue  # already reported as a missing variable
            code = (
                item["type"]
                if re.fullmatch(r"E\d{3}", item["type"])
                else (_PYDANTIC_CODES.get(item["type"], "E103"))
            )
            message = item["msg"]
            if item["type"] == "string_pattern_mismatch" and loc[:1] == ("cameras",):
                code, message = "E114", f"invalid camera name {loc[1]!r}"
            errors.append(FieldError(format_path(loc), code, message, line_of(raw, loc)))
    else:
        if not errors:
            return config
    errors.sort(key=lambda e: (e.line or 0, e.path))
    raise ConfigError(f"{len(errors)} error(s) in {file}", file=file, errors=errors)


def plain(node: Any) -> Any:
    """A ruamel tree as plain dicts and lists (what pydantic validates)."""
    if isinstance(node, dict):
        return {key: plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    return node


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> VigilConfig:
    """Read, substitute and validate a config file; raise :class:`ConfigError` with all errors."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(
            f"cannot read {file}: {reason}",
            file=file,
            errors=[FieldError("", "E100", f"cannot read the file: {reason}")],
        ) from None
    return validate_data(parse_yaml(text, file), file, env)
