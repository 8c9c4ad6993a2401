"""The options of a ``vigil bench`` run, as the CLI gives them to a profile."""

from __future__ import annotations

from dataclasses import dataclass, field

RECORD_SEGMENT_SECONDS = 10.0  # short by default, so segments close while measured


@dataclass(frozen=True)
class DetectOptions:
    """Detection settings of the detect profiles (defaults: the config's)."""

    idle_after: float | None = 60.0  # detect.idle_keyframes_after_seconds
    event_gap: float = 10.0  # detect.motion.event_gap_seconds
    fps: float = 5.0
    governor_hold: float = 30.0  # governor.hold_seconds


@dataclass(frozen=True)
class BenchOptions:
    """The options of one ``vigil bench`` run (each profile reads the ones it has)."""

    cameras: int = 8
    seconds: float = 30.0
    warmup: float = 5.0
    as_json: bool = False
    sim_args: tuple[str, ...] = ()  # for ``vigil sim``: stream size, rate, audio, H.265
    segment_seconds: float = RECORD_SEGMENT_SECONDS
    record_options: dict[str, str] = field(default_factory=dict)  # codec, preset, encoder
    detect: DetectOptions = field(default_factory=DetectOptions)
    viewers: int = 10  # live: MJPEG viewers at once
    live_input: str = "sub"  # live: the stream watched
    days: float = 30.0  # retention: days of footage indexed
    kills: int = 10  # chaos: kill -9s
    minutes: float = 30.0  # soak: how long
    mjpeg_cycles: int = 10_000  # churn: MJPEG viewers that come and go
    webrtc_cycles: int = 1_000  # churn: WebRTC viewers that come and go
    seed: int | None = None  # chaos: of the random moments (None: a new one, printed)
    workers: int = 1  # vigil's profiles: server.workers (auto resolved to the usable cores)
    processes: int = 1  # bare-detect: interpreters its cameras are spread over
