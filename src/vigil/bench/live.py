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

The viewers run in a child process (:mod:`vigil.bench.viewers`), so their CPU (reading,
and the WebRTC client's decoding) is not counted; the simulator runs in another. The
figures are vigil's process CPU (% of one core) per phase, the marginal cost of each phase
over ``none``, the ratio of N MJPEG viewers' cost to one's, and the frame rate each viewer
got.
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

import psutil
import uvicorn

from vigil.api.app import create_app
from vigil.auth import Access, UserRole
from vigil.auth.store import AuthStore
from vigil.bench.load import free_port, progress
from vigil.camera.manager import CameraManager
from vigil.config import VigilConfig, validate_data
from vigil.sim import process as simulator
from vigil.sim.media import CLOCK_REGION
from vigil.storage.index import Index
from vigil.streaming.live import LiveFeed

MJPEG_FPS = 10
MJPEG_WIDTH = 960
WEBRTC_MANY = 4  # viewers of the second WebRTC phase (live.webrtc_max_sessions is 8)
TILES = 16  # snapshot tiles of a grid, each polled once a second
TARGETS = {"mjpeg": "mjpeg", "webrtc": "webrtc", "snapshot": "snapshot.jpg"}
SETTLE = 3.0  # seconds between phases, for the viewers' sessions to end


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
) -> int:
    """Measure the phases and print them (see the module's doc)."""
    sim_port, http_port = free_port(), free_port()
    plan = [("none", "", 0), ("mjpeg-1", "mjpeg", 1), (f"mjpeg-{viewers}", "mjpeg", viewers)]
    plan += [("webrtc-1", "webrtc", 1), (f"webrtc-{WEBRTC_MANY}", "webrtc", WEBRTC_MANY)]
    url = f"http://127.0.0.1:{http_port}/api/cameras/cam1"
    phases = []
    with simulator.running(sim_port, 1, sim_args):
        with served(live_config(sim_port, live_input), http_port) as (manager, _):
            feed = manager.get("cam1").live
            for name, kind, count in plan:
                phases.append(_phase(name, kind, count, url, feed, seconds, warmup))
                time.sleep(SETTLE)
        # a grid, by a server with auth off and one with auth on, each started afresh (a
        # camera's cost changes as it ages: detection idles to key frames after a minute),
        # alternated twice so that drift hits both alike
        for round_ in (1, 2):
            for auth in (False, True):
                with served(live_config(sim_port, live_input), http_port, auth) as (manager, token):
                    feed = manager.get("cam1").live
                    header = f"Authorization: Bearer {token}" if auth else None
                    name = f"tiles-{TILES}{'-auth' if auth else ''}-{round_}"
                    phases.append(
                        _phase(name, "snapshot", TILES, url, feed, seconds, warmup, header)
                    )
    none = phases[0].cpu_pct
    for phase in phases:
        phase.marginal_pct = round(phase.cpu_pct - none, 2)
    summary = _summary({p.name: p for p in phases}, viewers)
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
    config: VigilConfig, port: int, auth: bool = False
) -> Iterator[tuple[CameraManager, str]]:
    """The real app over HTTP on `port`, until the block ends; its camera streams. With
    `auth`, an admin's token for it (else "")."""
    manager = CameraManager(config.cameras)
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
    feed: LiveFeed,
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
    me = psutil.Process()
    times = me.cpu_times()
    cpu0, wall0, enc0 = times.user + times.system, time.monotonic(), feed.encodes
    while (elapsed := time.monotonic() - wall0) < seconds:
        progress(name, elapsed, seconds)
        time.sleep(min(0.5, max(0.0, seconds - elapsed)))
    times = me.cpu_times()
    wall = time.monotonic() - wall0
    phase = Phase(name, count, round(100.0 * (times.user + times.system - cpu0) / wall, 2))
    phase.encodes_per_s = round((feed.encodes - enc0) / wall, 2)
    if child is not None:
        out, _ = child.communicate(timeout=warmup + seconds + 60)
        phase.viewer_fps = json.loads(out.decode() or "[]")
    sys.stderr.write("\n")
    return phase


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
