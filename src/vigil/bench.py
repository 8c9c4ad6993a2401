"""``vigil bench``: CPU and memory per camera, against the simulator in its own process.

"Per camera" is vigil's own process CPU (all threads, % of one core) divided by the number
of cameras; the simulator's CPU is measured apart, on its process.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import psutil

from vigil.camera.manager import CameraManager
from vigil.camera.state import State
from vigil.config import validate_data
from vigil.demo import wait_for_port

PROFILES = ("ingest",)
SIM_READY_TIMEOUT = 600.0  # seconds; the first run encodes the 1080p media


@dataclass
class BenchResult:
    profile: str
    cameras: int
    seconds: float
    cpu_pct_per_camera: float  # % of one core, vigil's process / cameras
    cpu_pct_total: float
    rss_mb: float
    rss_mb_per_camera: float  # (RSS - RSS before cameras started) / cameras
    dropped: int
    reconnects: int
    fps_in_median: float
    sim_cpu_pct_per_stream: float
    stream: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cameras_config(profile: str, cameras: int, port: int) -> dict[str, object]:
    if profile not in PROFILES:
        raise SystemExit(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    cams = {
        f"cam{n}": {
            "inputs": [{"url": f"rtsp://127.0.0.1:{port}/cam{n}/main", "roles": ["record"]}],
            "detect": {"enabled": False},
        }
        for n in range(1, cameras + 1)
    }
    return {"cameras": cams}


def _progress(label: str, done: float, total: float) -> None:
    filled = int(30 * min(done, total) / total) if total else 30
    sys.stderr.write(f"\r{label}: [{'#' * filled}{'.' * (30 - filled)}] {done:5.1f}/{total:.0f} s")
    sys.stderr.flush()


def _cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run_bench(
    *,
    cameras: int,
    seconds: float,
    profile: str,
    warmup: float = 5.0,
    as_json: bool = False,
    sim_args: tuple[str, ...] = (),
) -> int:
    port = _free_port()
    config = validate_data(_cameras_config(profile, cameras, port))
    sim = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "vigil.cli", "--log-level", "WARNING", "sim", "--port", str(port),
         "--cameras", str(cameras), *sim_args],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, SIM_READY_TIMEOUT, sim)
        result = _measure(config.cameras, profile, cameras, seconds, warmup, psutil.Process(sim.pid))
    finally:
        sim.terminate()
        sim.wait(10)
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print_table(result)
    return 0


def _measure(
    cams: dict[str, object], profile: str, count: int, seconds: float, warmup: float,
    sim: psutil.Process,
) -> BenchResult:
    me = psutil.Process()
    rss_before = me.memory_info().rss
    manager = CameraManager(cams)  # type: ignore[arg-type]
    manager.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [s.state for s in manager.statuses()]
            if all(s is State.STREAMING for s in states):
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"cameras did not all stream within 60 s: {states}")
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < warmup:
            _progress("warm-up", elapsed, warmup)
            time.sleep(0.5)
        cpu0, sim0, wall0 = _cpu_seconds(me), _cpu_seconds(sim), time.monotonic()
        while (elapsed := time.monotonic() - wall0) < seconds:
            _progress("measuring", elapsed, seconds)
            time.sleep(min(0.5, max(0.0, seconds - elapsed)))
        cpu1, sim1, wall1 = _cpu_seconds(me), _cpu_seconds(sim), time.monotonic()
        sys.stderr.write("\n")
        statuses = manager.statuses()
        rss = me.memory_info().rss
    finally:
        manager.shutdown()
    wall = wall1 - wall0
    total = 100.0 * (cpu1 - cpu0) / wall
    info = statuses[0].inputs[0]
    return BenchResult(
        profile=profile,
        cameras=count,
        seconds=round(wall, 1),
        cpu_pct_per_camera=round(total / count, 3),
        cpu_pct_total=round(total, 2),
        rss_mb=round(rss / 2**20, 1),
        rss_mb_per_camera=round((rss - rss_before) / 2**20 / count, 2),
        dropped=sum(s.dropped for s in statuses),
        reconnects=sum(s.reconnects for s in statuses),
        fps_in_median=round(statistics.median(s.fps_in for s in statuses), 2),
        sim_cpu_pct_per_stream=round(100.0 * (sim1 - sim0) / wall / count, 3),
        stream=f"{info.codec} {info.width}x{info.height}",
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
        ("fps in (median)", f"{r.fps_in_median}"),
        ("dropped packets", str(r.dropped)),
        ("reconnects", str(r.reconnects)),
        ("simulator, per stream", f"{r.sim_cpu_pct_per_stream:.3f} % of one core"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
