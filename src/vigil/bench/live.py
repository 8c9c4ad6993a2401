"""``vigil bench --profile live``: what live viewers cost the server.

One camera laid out as docs/config.md's example (main stream ``record``, sub-stream
``detect`` and ``live``, so MJPEG takes the detect decoder's frames), or with
``--live-input main`` live view on the main stream (decoded for MJPEG by a decoder of its
own). Recording is off: only the viewers' cost is measured. Served by the real app over
HTTP. The same camera is measured in phases, each for ``--seconds``:

- ``none``: nobody watches (ingest and detection only);
- ``mjpeg-1`` and ``mjpeg-N``: one, then ``--viewers`` MJPEG viewers;
- ``webrtc-1`` and ``webrtc-4``: one, then four WebRTC viewers (aiortc clients), packets
  passed through;
- ``tiles-16-N`` and ``tiles-16-auth-N``: a grid's 16 snapshot tiles, each polled once a
  second, by a fresh server with auth off, then one with auth on (a bearer token), twice:
  what the access check costs a grid, as the ratio of their CPU.

Then ``snapshot``: :data:`SNAPSHOTS` snapshots asked one after another, their latency's
p50 and p95 (with ``--workers`` above 1, each crosses from the camera's worker).

The viewers run in a child process (:mod:`vigil.bench.viewers`), so their CPU (reading,
and the WebRTC client's decoding) is not counted; the simulator runs in another. The
figures are vigil's CPU (% of one core: the process, plus its workers with ``--workers``
above 1) per phase, the marginal cost of each phase over ``none``, the ratio of N MJPEG
viewers' cost to one's, and the frame rate each viewer got. JPEG encodes a second are
counted in one process only (a worker's are its own).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2 as httpx
import psutil
import uvicorn

from vigil.api.app import create_app
from vigil.auth import Access, UserRole
from vigil.auth.store import AuthStore
from vigil.bench.load import free_port, progress
from vigil.camera.cameras import Cameras
from vigil.camera.manager import CameraManager
from vigil.camera.worker import WorkerSettings
from vigil.camera.workers import WorkerPool
from vigil.config import VigilConfig, validate_data
from vigil.sim import process as simulator
from vigil.sim.media import CLOCK_REGION
from vigil.storage.index import Index

MJPEG_FPS = 10
MJPEG_WIDTH = 960
WEBRTC_MANY = 4  # viewers of the second WebRTC phase (live.webrtc_max_sessions is 8)
TILES = 16  # snapshot tiles of a grid, each polled once a second
TARGETS = {"mjpeg": "mjpeg", "webrtc": "webrtc", "snapshot": "snapshot.jpg"}
SETTLE = 3.0  # seconds between phases, for the viewers' sessions to end
SNAPSHOTS = 200  # snapshots asked one after another, for their latency


@dataclass
class Phase:
    name: str
    viewers: int
    cpu_pct: float  # vigil's process, % of one core
    marginal_pct: float = 0.0  # over the phase without viewers
    viewer_fps: list[float] = field(default_factory=list)  # each viewer's frames a second
    encodes_per_s: float = 0.0  # JPEG encodes a second (one per frame sent, not per viewer)


def run_live_bench(
    *,
    seconds: float,
    viewers: int,
    warmup: float,
    as_json: bool,
    sim_args: tuple[str, ...],
    live_input: str = "sub",
    workers: int = 1,
) -> int:
    """Measure the phases and print them (see the module's doc)."""
    sim_port, http_port = free_port(), free_port()
    plan = [("none", "", 0), ("mjpeg-1", "mjpeg", 1), (f"mjpeg-{viewers}", "mjpeg", viewers)]
    plan += [("webrtc-1", "webrtc", 1), (f"webrtc-{WEBRTC_MANY}", "webrtc", WEBRTC_MANY)]
    url = f"http://127.0.0.1:{http_port}/api/cameras/cam1"
    phases = []
    with simulator.running(sim_port, 1, sim_args):
        with served(live_config(sim_port, live_input), http_port, workers=workers) as (
            manager,
            _,
        ):
            for name, kind, count in plan:
                phases.append(_phase(name, kind, count, url, manager, seconds, warmup))
                time.sleep(SETTLE)
            latency = _snapshot_latency(f"{url}/snapshot.jpg", SNAPSHOTS)
        # a grid, by a server with auth off and one with auth on, each started afresh (a
        # camera's cost changes as it ages: detection idles to key frames after a minute),
        # alternated twice so that drift hits both alike
        for round_ in (1, 2):
            for auth in (False, True):
                config = live_config(sim_port, live_input)
                with served(config, http_port, auth, workers) as (manager, token):
                    header = f"Authorization: Bearer {token}" if auth else None
                    name = f"tiles-{TILES}{'-auth' if auth else ''}-{round_}"
                    phases.append(
                        _phase(name, "snapshot", TILES, url, manager, seconds, warmup, header)
                    )
    none = phases[0].cpu_pct
    for phase in phases:
        phase.marginal_pct = round(phase.cpu_pct - none, 2)
    summary = {**_summary({p.name: p for p in phases}, viewers), **latency, "workers": workers}
    if as_json:
        print(json.dumps({"phases": [asdict(p) for p in phases], **summary}, indent=2))
    else:
        _print(phases, summary, viewers)
    return 0


def live_config(sim_port: int, live_input: str) -> VigilConfig:
    """One camera: main recorded, sub detected; live view on sub (sharing the detect
    decoder) or on main (a decoder of its own)."""
    main_roles = ["live"] if live_input == "main" else ["record"]
    sub_live = ["live"] if live_input == "sub" else []
    base = f"rtsp://127.0.0.1:{sim_port}/cam1"
    return validate_data(
        {
            "cameras": {
                "cam1": {
                    "inputs": [
                        {"url": f"{base}/main", "roles": main_roles},
                        {"url": f"{base}/sub", "roles": ["detect", *sub_live]},
                    ],
                    "record": {"mode": "off"},
                    "detect": {"motion": {"masks": [CLOCK_REGION]}},
                    "live": {"mjpeg_fps": MJPEG_FPS, "mjpeg_width": MJPEG_WIDTH},
                }
            }
        }
    )


@contextlib.contextmanager
def served(
    config: VigilConfig, port: int, auth: bool = False, workers: int = 1
) -> Iterator[tuple[Cameras, str]]:
    """The real app over HTTP on `port`, until the block ends; its camera streams. With
    `auth`, an admin's token for it (else ""). Its cameras in this process, or in
    `workers` worker processes."""
    manager: Cameras = CameraManager(config.cameras)
    if workers > 1:
        manager = WorkerPool(config.cameras, WorkerSettings(0, None, None), workers=workers)
    access, token = None, ""
    folder = tempfile.TemporaryDirectory()
    if auth:
        access = Access(AuthStore(Index(Path(folder.name) / "vigil.db").engine))
        access.add_user("bench", UserRole.ADMIN, ["*"], "bench password")
        token = access.create_token("bench", "bench")[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(manager, access=access),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="bench-http", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while manager.status("cam1").state != "streaming" or not server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the camera did not stream within 60 s")
            time.sleep(0.2)
        yield manager, token
    finally:
        server.should_exit = True
        thread.join(20)
        folder.cleanup()


def _phase(
    name: str,
    kind: str,
    count: int,
    url: str,
    manager: Cameras,
    seconds: float,
    warmup: float,
    header: str | None = None,
) -> Phase:
    """One phase: `count` viewers of `kind` (none for ""), warmed up, then measured."""
    child = None
    if kind:
        target = f"{url}/{TARGETS[kind]}"
        command = _viewer_command(target, kind, count, warmup + seconds + 5)
        if header:
            command += ["--header", header]
        child = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - our module
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < warmup:
        progress("warm-up", elapsed, warmup)
        time.sleep(0.5)
    feed = manager.live_feed("cam1")  # a worker's camera: the main process's copy
    processes = [psutil.Process()] + [psutil.Process(w.pid) for w in manager.workers() if w.pid]
    cpu0, wall0, enc0 = _cpu(processes), time.monotonic(), feed.encodes
    while (elapsed := time.monotonic() - wall0) < seconds:
        progress(name, elapsed, seconds)
        time.sleep(min(0.5, max(0.0, seconds - elapsed)))
    wall = time.monotonic() - wall0
    phase = Phase(name, count, round(100.0 * (_cpu(processes) - cpu0) / wall, 2))
    phase.encodes_per_s = round((feed.encodes - enc0) / wall, 2)
    if child is not None:
        out, _ = child.communicate(timeout=warmup + seconds + 60)
        phase.viewer_fps = json.loads(out.decode() or "[]")
    sys.stderr.write("\n")
    return phase


def _cpu(processes: list[psutil.Process]) -> float:
    """CPU seconds, user and system, of vigil's processes (the main one and its workers)."""
    return float(sum(t.user + t.system for t in (p.cpu_times() for p in processes)))


def _snapshot_latency(url: str, count: int) -> dict[str, float]:
    """`count` snapshots asked one after another: their latency's p50 and p95, in ms."""
    times = []
    with httpx.Client(timeout=30) as client:
        for n in range(count):
            progress("snapshot", n, count)
            t0 = time.perf_counter()
            answer = client.get(url)
            times.append(1000.0 * (time.perf_counter() - t0))
            if answer.status_code != 200:
                raise SystemExit(f"snapshot answered {answer.status_code}: {answer.text}")
    sys.stderr.write("\n")
    times.sort()
    return {
        "snapshot_p50_ms": round(times[len(times) // 2], 2),
        "snapshot_p95_ms": round(times[int(len(times) * 0.95)], 2),
    }


def _viewer_command(url: str, kind: str, count: int, seconds: float) -> list[str]:
    return [
        *(sys.executable, "-m", "vigil.bench.viewers", "--url", url, "--kind", kind),
        *("--count", str(count), "--seconds", str(seconds)),
    ]


def _summary(by: dict[str, Phase], viewers: int) -> dict[str, float]:
    one, many = by["mjpeg-1"], by[f"mjpeg-{viewers}"]
    return {
        "mjpeg_ratio_total": round(many.cpu_pct / one.cpu_pct, 3),
        "mjpeg_ratio_marginal": round(many.marginal_pct / one.marginal_pct, 3),
        "webrtc_marginal_pct": by["webrtc-1"].marginal_pct,
        "webrtc_many_marginal_pct": by[f"webrtc-{WEBRTC_MANY}"].marginal_pct,
        "tiles_auth_ratio": round(
            sum(by[f"tiles-{TILES}-auth-{r}"].cpu_pct for r in (1, 2))
            / sum(by[f"tiles-{TILES}-{r}"].cpu_pct for r in (1, 2)),
            3,
        ),
    }


def _print(phases: list[Phase], summary: dict[str, float], viewers: int) -> None:
    print(f"{'phase':<10} {'viewers':>7} {'CPU %':>7} {'over none':>9} {'encodes/s':>9}  fps each")
    for p in phases:
        fps = " ".join(f"{f:.1f}" for f in p.viewer_fps) or "-"
        print(
            f"{p.name:<10} {p.viewers:>7} {p.cpu_pct:>7.2f} {p.marginal_pct:>9.2f} "
            f"{p.encodes_per_s:>9.2f}  {fps}"
        )
    print(
        f"\n{viewers} MJPEG viewers / 1: {summary['mjpeg_ratio_total']:.3f} (process), "
        f"{summary['mjpeg_ratio_marginal']:.3f} (over none)"
    )
    print(f"one WebRTC viewer: {summary['webrtc_marginal_pct']:+.2f} % of one core over none")
    print(
        f"{WEBRTC_MANY} WebRTC viewers: {summary['webrtc_many_marginal_pct']:+.2f} % "
        "of one core over none"
    )
    print(f"{TILES} snapshot tiles with auth / without: {summary['tiles_auth_ratio']:.3f}")
