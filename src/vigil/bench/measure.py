"""How ``vigil bench`` measures a load: warm up, then CPU, memory and figures over the run.

"Per camera" is the process's CPU (all threads, plus the load's helper processes: vigil's
workers, a reference load's ffmpeg or interpreters; % of one core) divided by the number of
cameras, and memory is summed over the same processes; the simulator runs in a process of its own
and its CPU is reported apart, per stream.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psutil

from vigil.bench.load import Load, LoadFigures, cpu_seconds, free_port, progress
from vigil.sim import process as simulator

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


def run_loads(
    loads: list[tuple[str, Callable[[int], Load]]],
    *,
    cameras: int,
    seconds: float,
    warmup: float,
    as_json: bool,
    sim_args: tuple[str, ...] = (),
) -> int:
    """Measure each load in turn against one simulator, in a child process; print the
    results (a table each, and the ratios of a comparison), or JSON."""
    port = free_port()
    results: list[BenchResult] = []
    with simulator.running(port, cameras, sim_args) as sim:
        for name, make in loads:
            load = make(port)
            results.append(_measure(load, name, cameras, seconds, warmup, psutil.Process(sim.pid)))
    if as_json:
        out = [asdict(r) for r in results]
        print(json.dumps(out if len(out) > 1 else out[0], indent=2))
        return 0
    for result in results:
        _print_table(result)
        print()
    if len(results) > 1:
        _print_ratios(results)
    return 0


def _print_ratios(results: list[BenchResult]) -> None:
    """The first load (vigil's) against each of the others, per camera."""
    vigil = results[0]
    width = max(len(r.profile) for r in results[1:])
    for other in results[1:]:
        a, b = vigil.cpu_pct_per_camera, other.cpu_pct_per_camera
        print(
            f"{vigil.profile} / {other.profile:<{width}}  {a / b:.2f}  "
            f"({a:.2f} / {b:.2f} % per camera)"
        )


@dataclass
class _Window:
    """What was measured over the run: CPU seconds, wall seconds, memory."""

    cpu: float  # the load's process and its helpers
    sim_cpu: float
    wall: float
    rss_start: int
    rss_max: int  # sampled every 0.5 s
    by_minute: list[float]  # MB at the end of each whole minute


def _measure(
    load: Load, profile: str, count: int, seconds: float, warmup: float, sim: psutil.Process
) -> BenchResult:
    me = psutil.Process()
    rss_before = me.memory_info().rss
    load.start()
    try:
        _wait_ready(load)
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < warmup:
            progress("warm-up", elapsed, warmup)
            time.sleep(0.5)
        helpers = load.processes()
        window = _window(me, helpers, sim, seconds)
        rss = _rss(me, helpers)
        figures = load.figures()
    finally:
        load.stop()
    return _result(profile, count, window, rss, rss_before, figures)


def _wait_ready(load: Load) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not load.ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"cameras did not all stream within {READY_TIMEOUT:.0f} s")
        time.sleep(0.2)


def _window(
    me: psutil.Process, helpers: list[psutil.Process], sim: psutil.Process, seconds: float
) -> _Window:
    cpu0, sim0, wall0 = cpu_seconds(me, helpers), cpu_seconds(sim), time.monotonic()
    rss_start = rss_max = _rss(me, helpers)
    by_minute: list[float] = []
    while (elapsed := time.monotonic() - wall0) < seconds:
        progress("measuring", elapsed, seconds)
        time.sleep(min(0.5, max(0.0, seconds - elapsed)))
        rss = _rss(me, helpers)
        rss_max = max(rss_max, rss)
        if time.monotonic() - wall0 >= 60 * (len(by_minute) + 1):
            by_minute.append(round(rss / 2**20, 1))
    cpu1, sim1, wall1 = cpu_seconds(me, helpers), cpu_seconds(sim), time.monotonic()
    sys.stderr.write("\n")
    return _Window(cpu1 - cpu0, sim1 - sim0, wall1 - wall0, rss_start, rss_max, by_minute)


def _rss(me: psutil.Process, helpers: list[psutil.Process]) -> int:
    """Resident memory of the load: this process and its helpers (workers, ffmpeg)."""
    total = 0
    for proc in [me, *helpers]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:  # a helper that ended
            continue
    return total


def _result(
    profile: str, count: int, w: _Window, rss: int, rss_before: int, figures: LoadFigures
) -> BenchResult:
    total = 100.0 * w.cpu / w.wall
    mb = 2**20
    return BenchResult(
        profile=profile,
        cameras=count,
        seconds=round(w.wall, 1),
        cpu_pct_per_camera=round(total / count, 3),
        cpu_pct_total=round(total, 2),
        rss_mb=round(rss / mb, 1),
        rss_mb_start=round(w.rss_start / mb, 1),
        rss_mb_max=round(w.rss_max / mb, 1),
        rss_mb_by_minute=w.by_minute,
        rss_mb_per_camera=round((rss - rss_before) / mb / count, 2),
        dropped=figures.dropped,
        reconnects=figures.reconnects,
        fps_in_median=round(statistics.median(figures.fps), 2) if figures.fps else 0.0,
        sim_cpu_pct_per_stream=round(100.0 * w.sim_cpu / w.wall / count, 3),
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
