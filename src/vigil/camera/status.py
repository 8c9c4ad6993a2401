"""Snapshots of a camera and its inputs, as the API shows them (the response models).

They are plain frozen dataclasses: the API answers with them as they are (no model mirrors
their fields), and the bench and the metrics read them too. Built on demand, from the
figures the monitor thread samples once a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vigil.camera.state import State, worst
from vigil.errors import ErrorDetail, VigilError
from vigil.media.failures import Failures
from vigil.pipeline.detect_stats import DetectStatus
from vigil.pipeline.detector import Detector


@dataclass(frozen=True, slots=True)
class InputStatus:
    """One input: its roles, source (redacted), state and figures."""

    index: int
    roles: list[str]
    url: str  # credentials redacted
    state: State
    fps: float
    packets_per_s: float
    bytes_per_s: float
    codec: str | None
    width: int | None
    height: int | None
    reconnects: int
    dropped: int
    uptime: float | None
    last_error: ErrorDetail | None
    retry_in: float | None  # seconds until the next connection try, while reconnecting
    backoff: float | None  # seconds of that wait in all (1, 2, 4 ... 30; 300 after a 401)


@dataclass(frozen=True, slots=True)
class GovernorStatus:
    """Where the CPU governor holds a camera's detection, and why."""

    level: int  # 0 as configured, up to 3 (see vigil.pipeline.detector)
    reason: str
    max_level: int = 2  # the lowest step it can take: 3 only with a lower-resolution input


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera: its state (the worst of its inputs'), inputs and figures."""

    name: str
    enabled: bool
    state: State
    inputs: list[InputStatus]
    fps_in: float  # of the detect input, else the first
    fps_detect: float | None
    cpu_pct: float | None  # % of one core, over the last window
    reconnects: int
    dropped: int
    uptime: float | None
    last_error: ErrorDetail | None
    governor: GovernorStatus | None
    hwaccel: str
    detect: DetectStatus | None = None
    viewers: int = 0  # MJPEG, WebRTC and snapshot-on-demand viewers now
    interruptions: dict[str, int] = field(default_factory=dict)  # by part: recorder, detector
    stalled: list[str] = field(default_factory=list)  # the parts stuck now (see last_error)


@dataclass(frozen=True, slots=True)
class CameraFigures:
    """One camera's counters that the metrics show beside its status."""

    cpu_seconds: float
    recorded_bytes: int
    dropped: int  # packets the recorder dropped for being behind
    running: bool


def camera_status(
    name: str,
    enabled: bool,
    hwaccel: str,
    inputs: list[InputStatus],
    *,
    cpu: float | None,
    detector: Detector | None,
    detect_input: int | None,
    viewers: int,
    now: float,
    failures: Sequence[Failures] = (),
    stalls: Mapping[str, VigilError] | None = None,
    max_level: int = 2,
) -> CameraStatus:
    """A camera's snapshot from its inputs' and its detector's (decoding input `detect_input`)."""
    primary = next((s for s in inputs if "detect" in s.roles), inputs[0])
    errors = [s.last_error for s in inputs if s.last_error and s.state is not State.STREAMING]
    # a part stuck now; else a recorder's, detector's or live view's error of the last minute
    stalls = stalls or {}
    errors += [e.detail() for e in stalls.values()]
    errors += [e.detail() for f in failures if (e := f.recent()) is not None]
    uptimes = [s.uptime for s in inputs if s.uptime is not None]
    governor = detect = None
    if detector is not None and detect_input is not None:
        governor = GovernorStatus(detector.level, detector.reason, max_level)
        detect = detect_status(detector, detect_input)
    return CameraStatus(
        name=name,
        enabled=enabled,
        state=worst(s.state for s in inputs),
        inputs=inputs,
        fps_in=primary.fps,
        fps_detect=round(detector.fps(now), 2) if detector is not None else None,
        cpu_pct=round(cpu, 2) if cpu is not None else None,
        reconnects=sum(s.reconnects for s in inputs),
        dropped=sum(s.dropped for s in inputs),
        uptime=min(uptimes) if len(uptimes) == len(inputs) else None,
        last_error=errors[0] if errors else None,
        governor=governor,
        hwaccel=hwaccel,
        detect=detect,
        viewers=viewers,
        interruptions={f.part: f.count for f in failures},
        stalled=sorted(stalls),
    )


def detect_status(detector: Detector, input_index: int) -> DetectStatus:
    stats = detector.stats
    return DetectStatus(
        input=input_index,
        mode=stats.mode,
        hwaccel=stats.hwaccel,
        events=stats.events,
        idle_switches=stats.idle_switches,
        catch_ups=stats.catch_ups,
        governor_steps=stats.governor_steps,
        frames=dict(stats.frames),
    )
