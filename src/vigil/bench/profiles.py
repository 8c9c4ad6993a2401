"""Every profile of ``vigil bench``, in one registry that also writes the CLI's help.

A profile is a name, a line saying what it measures, and how it runs: most measure one or
more loads against the simulator (:func:`vigil.bench.measure.run_loads`); ``live`` and
``retention`` have runs of their own. docs/benchmarks.md has the figures and commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.bench.options import BenchOptions

if TYPE_CHECKING:
    from vigil.bench.load import Load

# The registry is read for the CLI's help at every start of ``vigil``, so a profile imports
# what it runs (the camera manager, the app, aiortc) only when it runs.

Runner = Callable[[BenchOptions], int]
LoadFactory = Callable[[int], "Load"]  # the simulator's port -> the load
Loads = Callable[[BenchOptions], LoadFactory]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    summary: str  # what it measures, in a line
    run: Runner


def _vigil(profile: str) -> Loads:
    """vigil's camera manager with the cameras `profile` lays out."""

    def loads(o: BenchOptions) -> LoadFactory:
        def make(port: int) -> Load:
            from vigil.bench.loads import IngestLoad, camera_configs

            cams = camera_configs(
                profile, o.cameras, port, o.segment_seconds, o.record_options, o.detect
            )
            governor = {"hold_seconds": o.detect.governor_hold}
            return IngestLoad(
                cams,
                record=profile != "ingest",
                governor=governor,
                check=profile == "record",
                workers=o.workers,
            )

        return make

    return loads


def _ffmpeg(frigate: bool, decode: str | None = "sub") -> Loads:
    """ffmpeg processes doing the job: the floor, or Frigate's architecture."""

    def loads(o: BenchOptions) -> LoadFactory:
        def make(port: int) -> Load:
            from vigil.bench.ffmpeg import FfmpegLoad

            return FfmpegLoad(o.cameras, port, frigate=frigate, decode=decode)

        return make

    return loads


def _bare(kind: str) -> Loads:
    """Plain PyAV threads, no vigil: demux only (with PyAV's timeout or not), or detect."""

    def loads(o: BenchOptions) -> LoadFactory:
        def make(port: int) -> Load:
            from vigil.bench.bare import BareDetectLoad, BareDetectProcesses
            from vigil.bench.loads import BareDemuxLoad

            if kind == "detect" and o.processes > 1:
                return BareDetectProcesses(o.cameras, port, o.processes)
            if kind == "detect":
                return BareDetectLoad(o.cameras, port)
            return BareDemuxLoad(o.cameras, port, pyav_timeout=kind == "demux-pyav-timeout")

        return make

    return loads


LOADS: dict[str, Loads] = {
    "ingest": _vigil("ingest"),
    "record": _vigil("record"),
    "detect": _vigil("detect"),
    "detect-main": _vigil("detect-main"),
    "bare-demux": _bare("demux"),
    "bare-demux-pyav-timeout": _bare("demux-pyav-timeout"),
    "detect-floor": _ffmpeg(frigate=False),
    "detect-frigate": _ffmpeg(frigate=True),
    "detect-main-floor": _ffmpeg(frigate=False, decode="main"),
    "record-floor": _ffmpeg(frigate=False, decode=None),
    "bare-detect": _bare("detect"),
}


def _measured(*names: str) -> Runner:
    """Measure the loads `names`, one after the other against the same simulator."""

    def run(o: BenchOptions) -> int:
        from vigil.bench.measure import run_loads

        loads = [(name, LOADS[name](o)) for name in names]
        return run_loads(
            loads,
            cameras=o.cameras,
            seconds=o.seconds,
            warmup=o.warmup,
            as_json=o.as_json,
            sim_args=o.sim_args,
        )

    return run


def _live(o: BenchOptions) -> int:
    from vigil.bench import live

    return live.run_live_bench(
        seconds=o.seconds,
        viewers=o.viewers,
        warmup=o.warmup,
        as_json=o.as_json,
        sim_args=o.sim_args,
        live_input=o.live_input,
        workers=o.workers,
    )


def _retention(o: BenchOptions) -> int:
    from vigil.bench import retention

    return retention.run_retention_bench(o.cameras, o.days, o.segment_seconds, o.as_json)


def _chaos(o: BenchOptions) -> int:
    from vigil.bench import chaos

    return chaos.run(o)


def _churn(o: BenchOptions) -> int:
    from vigil.bench import churn

    return churn.run(o)


def _idle(o: BenchOptions) -> int:
    from vigil.bench import idle

    return idle.run(o)


def _soak(o: BenchOptions) -> int:
    from vigil.bench import soak

    return soak.run(o)


def _auth(o: BenchOptions) -> int:
    from vigil.bench import auth

    return auth.run(o)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "auth",
            "what the access check costs a request: a session, and cached Basic on a snapshot",
            _auth,
        ),
        Profile(
            "ingest",
            "vigil's camera manager, one RTSP input per camera (demux only)",
            _measured("ingest"),
        ),
        Profile(
            "record",
            "the same, recording every camera by stream copy; every segment is checked afterwards",
            _measured("record"),
        ),
        Profile(
            "bare-demux",
            "the floor: plain PyAV threads demuxing the same streams",
            _measured("bare-demux"),
        ),
        Profile(
            "bare-demux-pyav-timeout",
            "the same with PyAV's timeout=(open, read), which vigil avoids",
            _measured("bare-demux-pyav-timeout"),
        ),
        Profile(
            "detect",
            "main recorded by copy, motion on the sub-stream (as the demo runs cameras)",
            _measured("detect"),
        ),
        Profile(
            "detect-main",
            "one input, the main stream, recorded and detected",
            _measured("detect-main"),
        ),
        Profile(
            "detect-floor",
            "the detect job done by ffmpeg processes: the floor",
            _measured("detect-floor"),
        ),
        Profile(
            "detect-frigate",
            "the detect job in Frigate's architecture (ffmpeg to raw frames, motion here)",
            _measured("detect-frigate"),
        ),
        Profile(
            "detect-compare",
            "detect, detect-floor and detect-frigate in one run, with the ratios",
            _measured("detect", "detect-floor", "detect-frigate"),
        ),
        Profile(
            "detect-vs-bare",
            "detect (with --workers) and bare-detect (with --processes) in one run, with the ratio",
            _measured("detect", "bare-detect"),
        ),
        Profile(
            "record-floor",
            "ffmpeg copying the main stream into 10 s MP4 segments, nothing else",
            _measured("record-floor"),
        ),
        Profile(
            "record-vs-ffmpeg",
            "record and record-floor on the same simulated source in one run, with the ratio",
            _measured("record", "record-floor"),
        ),
        Profile(
            "detect-main-floor",
            "ffmpeg copying main and decoding every frame of it",
            _measured("detect-main-floor"),
        ),
        Profile(
            "bare-detect",
            "the detect job as plain PyAV threads in one interpreter",
            _measured("bare-detect"),
        ),
        Profile("live", "what MJPEG and WebRTC viewers cost, phase by phase", _live),
        Profile("retention", "a retention run over a real index of --days of footage", _retention),
        Profile(
            "chaos",
            "kill -9 at random moments, --kills times, while cameras record: footage lost "
            "per kill, and the index, disk and files checked after each restart",
            _chaos,
        ),
        Profile(
            "churn",
            "--mjpeg-cycles MJPEG and --webrtc-cycles WebRTC viewers come and go: file "
            "descriptors, threads and RSS against the baseline",
            _churn,
        ),
        Profile(
            "soak",
            "--minutes of recording and detection with faults, viewers coming and going and "
            "API changes: RSS, descriptors, threads and DB size each minute, and their slopes",
            _soak,
        ),
        Profile(
            "idle",
            "vigil run with no camera and no client, with --workers: its CPU while it sleeps",
            _idle,
        ),
    )
}


def run(profile: str, options: BenchOptions) -> int:
    """Run `profile` with `options` and print its figures; the exit status."""
    return PROFILES[profile].run(options)


def profile_help() -> str:
    """The ``--profile`` help: every profile and what it measures."""
    lines = [f"{p.name}: {p.summary}" for p in PROFILES.values()]
    return "; ".join(lines) + " (docs/benchmarks.md)"
