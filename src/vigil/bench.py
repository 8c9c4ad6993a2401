"""``vigil bench``: CPU and memory per camera, against the simulator in its own process.

"Per camera" is vigil's own process CPU (all threads, % of one core) divided by the number
of cameras; the simulator's CPU is measured apart, on its process.

Profiles:

- ``ingest``: vigil's camera manager, one RTSP input per camera (demux only);
- ``record``: the same, recording every camera by stream copy (``--segment-seconds``, 10 by
  default, so the remux on close is measured too) into a temporary folder; every segment
  is checked afterwards;
- ``bare-demux``: the floor: plain PyAV threads demuxing the same streams, no vigil;
- ``bare-demux-pyav-timeout``: the same with PyAV's ``timeout=(open, read)``, which vigil
  avoids because of what this profile shows;
- ``detect``: the main stream recorded by copy and motion detection on the sub-stream
  (``detect.fps`` 5, width 320, the simulator's clock masked), as the demo runs cameras;
- ``detect-main``: one input, the main stream, recorded and detected (``--idle-after``
  sets adaptive idle decoding; ``--sim-still`` serves a scene where nothing moves);
- ``detect-floor`` and ``detect-frigate``: the same job as ``detect`` done by ffmpeg
  processes (:mod:`vigil.bench_ffmpeg`): the floor, and Frigate's architecture;
- ``detect-compare``: ``detect``, ``detect-floor`` and ``detect-frigate`` one after the
  other against the same simulator, with the ratios;
- ``detect-main-floor``: ffmpeg copying the main stream and decoding every frame of it: the
  floor of ``detect-main`` without idle decoding;
- ``bare-detect``: the ``detect`` job as plain PyAV threads in this process
  (:mod:`vigil.bench_bare`): what threads in one interpreter can do, for the many-camera
  runs.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import av
import av.error
import psutil

from vigil.bench_bare import BareDetectLoad
from vigil.bench_ffmpeg import FfmpegLoad
from vigil.camera.manager import CameraManager
from vigil.camera.state import State
from vigil.camera.supervisor import CameraStatus
from vigil.config import validate_data
from vigil.demo import wait_for_port
from vigil.recording.recorder import RecordingContext
from vigil.sim.media import CLOCK_REGION
from vigil.storage.index import Index

PROFILES = (
    "ingest",
    "record",
    "bare-demux",
    "bare-demux-pyav-timeout",
    "detect",
    "detect-main",
    "detect-floor",
    "detect-frigate",
    "detect-compare",
    "detect-main-floor",
    "bare-detect",
)
COMPARED = ("detect", "detect-floor", "detect-frigate")
RECORD_SEGMENT_SECONDS = (
    10.0  # short by default, so segments close (and are remuxed) while measured
)
SIM_READY_TIMEOUT = 600.0  # seconds; the first run encodes the 1080p media
READY_TIMEOUT = 60.0  # seconds for every camera to stream


@dataclass
class BenchResult:
    profile: str
    cameras: int
    seconds: float
    cpu_pct_per_camera: float  # % of one core, vigil's process / cameras
    cpu_pct_total: float
    rss_mb: float  # at the end of the measurement
    rss_mb_start: float  # at its start (after warm-up): flat memory means end ~ start
    rss_mb_max: float  # the most seen, sampled every 0.5 s
    rss_mb_by_minute: list[float]  # at the end of each whole minute measured
    rss_mb_per_camera: float  # (RSS - RSS before cameras started) / cameras
    dropped: int
    reconnects: int
    fps_in_median: float
    sim_cpu_pct_per_stream: float
    stream: str
    segments: int | None = None  # record: segments written
    segments_bad: int | None = None  # record: segments whose frames don't fill their length
    disk_mb_per_hour: float | None = None  # record: bytes written per hour of footage, a camera
    detect: dict[str, object] | None = None  # detect profiles: rate, frames by mode, governor


@dataclass
class LoadFigures:
    dropped: int
    reconnects: int
    fps: list[float]
    stream: str
    segments: int | None = None
    segments_bad: int | None = None
    disk_mb_per_hour: float | None = None
    detect: dict[str, object] | None = None


class Load(Protocol):
    def start(self) -> None: ...
    def ready(self) -> bool: ...
    def figures(self) -> LoadFigures: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class DetectOptions:
    """Detection settings of the detect profiles (defaults: the config's)."""

    idle_after: float | None = 60.0  # detect.idle_keyframes_after_seconds
    event_gap: float = 10.0  # detect.motion.event_gap_seconds
    fps: float = 5.0
    governor_hold: float = 30.0  # governor.hold_seconds


def camera_configs(
    profile: str,
    cameras: int,
    port: int,
    segment_seconds: float,
    record_options: dict[str, str] | None,
    detect: DetectOptions,
) -> dict[str, dict[str, object]]:
    """The cameras of a vigil profile, in the config file's shape."""
    record_config: dict[str, object] = {"segment_seconds": segment_seconds}
    record_config.update(record_options or {})
    if profile == "ingest":
        record_config["mode"] = "off"
    detect_config: dict[str, object] = {
        "fps": detect.fps,
        "idle_keyframes_after_seconds": detect.idle_after,
        "motion": {"masks": [CLOCK_REGION], "event_gap_seconds": detect.event_gap},
    }
    cams: dict[str, dict[str, object]] = {}
    for n in range(1, cameras + 1):
        main = f"rtsp://127.0.0.1:{port}/cam{n}/main"
        if profile in ("ingest", "record"):
            inputs: list[dict[str, object]] = [{"url": main, "roles": ["record"]}]
        elif profile == "detect-main":
            inputs = [{"url": main, "roles": ["record", "detect"]}]
        else:
            sub = f"rtsp://127.0.0.1:{port}/cam{n}/sub"
            inputs = [{"url": main, "roles": ["record"]}, {"url": sub, "roles": ["detect"]}]
        cams[f"cam{n}"] = {
            "inputs": inputs,
            "record": record_config,
            "detect": detect_config if profile.startswith("detect") else {"enabled": False},
        }
    return cams


class IngestLoad:
    """vigil's camera manager with the profile's cameras, recording or not."""

    def __init__(
        self,
        cams: dict[str, dict[str, object]],
        record: bool = False,
        governor: dict[str, float] | None = None,
    ):
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        context = None
        self.folder = tempfile.TemporaryDirectory(prefix="vigil-bench-")
        root = Path(self.folder.name)
        if record:
            context = RecordingContext(root, Index(root / "vigil.db"))
        config = validate_data({"cameras": cams, "governor": governor or {}})
        self.manager = CameraManager(config.cameras, recording=context, governor=config.governor)
        self.disk_mb_per_hour: float | None = None

    def start(self) -> None:
        self.manager.start()

    def ready(self) -> bool:
        return all(s.state is State.STREAMING for s in self.manager.statuses())

    def figures(self) -> LoadFigures:
        statuses = self.manager.statuses()
        info = statuses[0].inputs[0]
        return LoadFigures(
            dropped=sum(s.dropped for s in statuses),
            reconnects=sum(s.reconnects for s in statuses),
            fps=[i.fps for s in statuses for i in s.inputs if "record" in i.roles]
            or [s.fps_in for s in statuses],
            stream=f"{info.codec} {info.width}x{info.height}",
            detect=self._detect_figures(statuses),
        )

    def _detect_figures(self, statuses: list[CameraStatus]) -> dict[str, object] | None:
        detecting = [(s, s.detect) for s in statuses if s.detect is not None]
        if not detecting:
            return None
        frames: dict[str, int] = {}
        for _, detect in detecting:
            for key, value in detect.frames.items():
                frames[key] = frames.get(key, 0) + value
        first = detecting[0][0]
        source = first.inputs[detecting[0][1].input]
        config = self.manager.governor.config
        governor = self.manager.governor
        levels = sorted(int(str(s.governor["level"])) for s, _ in detecting if s.governor)
        return {
            "stream": f"{source.codec} {source.width}x{source.height} at {source.fps:.0f} fps",
            "fps_detect_median": round(
                statistics.median(s.fps_detect or 0 for s, _ in detecting), 2
            ),
            "frames_since_start": frames,
            "events": sum(d.events for _, d in detecting),
            "modes": sorted({d.mode for _, d in detecting}),
            "governor": (
                f"cpu_high {config.cpu_high:.0f} %, cpu_low {config.cpu_low:.0f} %, critical "
                f"{config.cpu_critical:.0f} %, hold {config.hold_seconds:.0f} s; "
                f"{governor.steps_down} steps down, {governor.steps_up} up; "
                f"levels at the end {levels}"
            ),
        }

    def stop(self) -> None:
        self.manager.shutdown()
        context = self.manager.recording
        if context is not None:
            context.index.close()
        if self.folder is not None:
            self.folder.cleanup()

    def check_segments(self) -> tuple[int, int]:
        """(segments, bad ones): a segment is bad if its frames don't fill its duration."""
        context = self.manager.recording
        if context is None:
            return 0, 0
        rows = context.index.segments()
        seconds = sum(row.duration for row in rows)
        if seconds:
            self.disk_mb_per_hour = sum(row.bytes for row in rows) / seconds * 3600 / 1e6
        bad = 0
        for row in rows:
            try:
                with av.open(str(context.root / row.path)) as container:
                    stream = container.streams.video[0]
                    frames = sum(1 for p in container.demux(stream) if p.size)
                    rate = float(stream.average_rate or 30)
            except av.error.FFmpegError:
                bad += 1
                continue
            if abs(frames / rate - row.duration) > 1.5 / rate:
                bad += 1
        return len(rows), bad


class BareDemuxLoad:
    """The floor: one plain PyAV demux thread per stream, same options, nothing else."""

    def __init__(self, cameras: int, port: int, pyav_timeout: bool):
        self.urls = [f"rtsp://127.0.0.1:{port}/cam{n}/main" for n in range(1, cameras + 1)]
        self.pyav_timeout = pyav_timeout
        self.stop_event = threading.Event()
        self.counts = [0] * cameras
        self.started = 0.0
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True, name=f"bare-{i}")
            for i in range(cameras)
        ]

    def _run(self, index: int) -> None:
        options = {"rtsp_transport": "tcp", "timeout": "10000000"}
        timeout = (10.0, 10.0) if self.pyav_timeout else (10.0, None)
        with av.open(self.urls[index], options=options, timeout=timeout) as container:
            video = container.streams.video[0]
            for packet in container.demux(video):
                if self.stop_event.is_set():
                    return
                if packet.size:
                    self.counts[index] += 1

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def ready(self) -> bool:
        return all(self.counts)

    def figures(self) -> LoadFigures:
        elapsed = time.monotonic() - self.started
        return LoadFigures(0, 0, [c / elapsed for c in self.counts], "h264 (bare demux)")

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_load(
    profile: str,
    cameras: int,
    port: int,
    segment_seconds: float,
    record_options: dict[str, str] | None = None,
    detect: DetectOptions | None = None,
) -> Load:
    if profile in ("detect-floor", "detect-frigate", "detect-main-floor"):
        decode = "main" if profile == "detect-main-floor" else "sub"
        return FfmpegLoad(cameras, port, frigate=profile == "detect-frigate", decode=decode)
    if profile in ("ingest", "record", "detect", "detect-main"):
        detect = detect or DetectOptions()
        cams = camera_configs(profile, cameras, port, segment_seconds, record_options, detect)
        governor = {"hold_seconds": detect.governor_hold}
        return IngestLoad(cams, record=profile != "ingest", governor=governor)
    if profile == "bare-detect":
        return BareDetectLoad(cameras, port)
    if profile.startswith("bare-demux"):
        return BareDemuxLoad(cameras, port, pyav_timeout=profile.endswith("pyav-timeout"))
    raise SystemExit(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")


def _progress(label: str, done: float, total: float) -> None:
    filled = int(30 * min(done, total) / total) if total else 30
    sys.stderr.write(
        f"\r{label:>9}: [{'#' * filled}{'.' * (30 - filled)}] {done:5.1f}/{total:.0f} s"
    )
    sys.stderr.flush()


def _cpu_seconds(proc: psutil.Process, helpers: list[psutil.Process] | None = None) -> float:
    """CPU seconds of `proc`, plus those of its `helpers` (the ffmpeg processes of a load)."""
    total = 0.0
    for each in [proc, *(helpers or [])]:
        times = each.cpu_times()
        total += float(times.user + times.system)
    return total


def run_bench(
    *,
    cameras: int,
    seconds: float,
    profile: str,
    warmup: float = 5.0,
    as_json: bool = False,
    sim_args: tuple[str, ...] = (),
    segment_seconds: float = RECORD_SEGMENT_SECONDS,
    record_options: dict[str, str] | None = None,
    detect: DetectOptions | None = None,
) -> int:
    """Run one benchmark and print its result; the simulator runs in a child process."""
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    port = _free_port()
    sim = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "--log-level",
            "WARNING",
            "sim",
            "--port",
            str(port),
            "--http-port",
            "0",
            "--cameras",
            str(cameras),
            *sim_args,
        ],
        stdout=subprocess.DEVNULL,
    )
    results: list[BenchResult] = []
    try:
        wait_for_port(port, SIM_READY_TIMEOUT, sim)
        for each in COMPARED if profile == "detect-compare" else (profile,):
            load = _make_load(each, cameras, port, segment_seconds, record_options, detect)
            results.append(_measure(load, each, cameras, seconds, warmup, psutil.Process(sim.pid)))
    finally:
        sim.terminate()
        sim.wait(10)
    if as_json:
        print(
            json.dumps(
                [asdict(r) for r in results] if len(results) > 1 else asdict(results[0]), indent=2
            )
        )
    else:
        for result in results:
            _print_table(result)
            print()
        if len(results) > 1:
            _print_ratios(results)
    return 0


def _print_ratios(results: list[BenchResult]) -> None:
    by = {r.profile: r.cpu_pct_per_camera for r in results}
    vigil, floor, frigate = by["detect"], by["detect-floor"], by["detect-frigate"]
    print(f"vigil / floor    {vigil / floor:.2f}  ({vigil:.2f} / {floor:.2f} % per camera)")
    print(f"vigil / frigate  {vigil / frigate:.2f}  ({vigil:.2f} / {frigate:.2f} % per camera)")


def _measure(
    load: Load, profile: str, count: int, seconds: float, warmup: float, sim: psutil.Process
) -> BenchResult:
    record_check = profile == "record"  # the detect profiles record too; checking is slow
    me = psutil.Process()
    rss_before = me.memory_info().rss
    load.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not load.ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"cameras did not all stream within {READY_TIMEOUT:.0f} s")
            time.sleep(0.2)
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < warmup:
            _progress("warm-up", elapsed, warmup)
            time.sleep(0.5)
        helpers = load.processes() if isinstance(load, FfmpegLoad) else []
        cpu0, sim0, wall0 = _cpu_seconds(me, helpers), _cpu_seconds(sim), time.monotonic()
        rss_start = rss_max = me.memory_info().rss
        by_minute: list[float] = []
        while (elapsed := time.monotonic() - wall0) < seconds:
            _progress("measuring", elapsed, seconds)
            time.sleep(min(0.5, max(0.0, seconds - elapsed)))
            rss = me.memory_info().rss
            rss_max = max(rss_max, rss)
            if time.monotonic() - wall0 >= 60 * (len(by_minute) + 1):
                by_minute.append(round(rss / 2**20, 1))
        cpu1, sim1, wall1 = _cpu_seconds(me, helpers), _cpu_seconds(sim), time.monotonic()
        sys.stderr.write("\n")
        figures = load.figures()
        rss = me.memory_info().rss
        if isinstance(load, IngestLoad) and load.manager.recording is not None and record_check:
            load.manager.shutdown()  # close the open segments before checking them all
            figures.segments, figures.segments_bad = load.check_segments()
            figures.disk_mb_per_hour = load.disk_mb_per_hour
    finally:
        load.stop()
    wall = wall1 - wall0
    total = 100.0 * (cpu1 - cpu0) / wall
    return BenchResult(
        profile=profile,
        cameras=count,
        seconds=round(wall, 1),
        cpu_pct_per_camera=round(total / count, 3),
        cpu_pct_total=round(total, 2),
        rss_mb=round(rss / 2**20, 1),
        rss_mb_start=round(rss_start / 2**20, 1),
        rss_mb_max=round(rss_max / 2**20, 1),
        rss_mb_by_minute=by_minute,
        rss_mb_per_camera=round((rss - rss_before) / 2**20 / count, 2),
        dropped=figures.dropped,
        reconnects=figures.reconnects,
        fps_in_median=round(statistics.median(figures.fps), 2) if figures.fps else 0.0,
        sim_cpu_pct_per_stream=round(100.0 * (sim1 - sim0) / wall / count, 3),
        stream=figures.stream,
        segments=figures.segments,
        segments_bad=figures.segments_bad,
        disk_mb_per_hour=(
            None if figures.disk_mb_per_hour is None else round(figures.disk_mb_per_hour)
        ),
        detect=figures.detect,
    )


def _print_table(r: BenchResult) -> None:
    rows = [
        ("profile", r.profile),
        ("cameras", str(r.cameras)),
        ("stream", r.stream),
        ("measured", f"{r.seconds} s"),
        ("CPU per camera", f"{r.cpu_pct_per_camera:.3f} % of one core"),
        ("CPU total (vigil)", f"{r.cpu_pct_total:.2f} % of one core"),
        ("RSS", f"{r.rss_mb} MB ({r.rss_mb_per_camera} MB per camera)"),
        ("RSS start/max/end", f"{r.rss_mb_start} / {r.rss_mb_max} / {r.rss_mb} MB"),
        ("RSS by minute", " ".join(f"{m}" for m in r.rss_mb_by_minute) or "-"),
        ("fps in (median)", f"{r.fps_in_median}"),
        ("dropped packets", str(r.dropped)),
        ("reconnects", str(r.reconnects)),
        ("simulator, per stream", f"{r.sim_cpu_pct_per_stream:.3f} % of one core"),
    ]
    if r.segments is not None:
        rows.append(("segments (bad)", f"{r.segments} ({r.segments_bad})"))
    if r.disk_mb_per_hour is not None:
        rows.append(("disk per camera", f"{r.disk_mb_per_hour:.0f} MB an hour"))
    for key, value in (r.detect or {}).items():
        rows.append((f"detect {key}", str(value)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
