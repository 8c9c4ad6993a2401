"""``vigil bench --profile live``: what live viewers cost the server.

One camera laid out as DESIGN.md's example (main stream ``record``, sub-stream ``detect`` and
``live``, so MJPEG takes the detect decoder's frames), or with ``--live-input main`` live view
on the main stream (decoded for MJPEG by a decoder of its own). Recording is off: only the
viewers' cost is measured. Served by the real app over HTTP. The same camera is measured in
phases, each for ``--seconds``:

- ``none``: nobody watches (ingest and detection only);
- ``mjpeg-1`` and ``mjpeg-N``: one, then ``--viewers`` MJPEG viewers;
- ``webrtc-1`` and ``webrtc-4``: one, then four WebRTC viewers (aiortc clients), packets
  passed through.

The viewers run in a child process (``python -m vigil.bench_live``), so their CPU (reading,
and the WebRTC client's decoding) is not counted; the simulator runs in another. The
figures are vigil's process CPU (% of one core) per phase, the marginal cost of each phase
over ``none``, the ratio of N MJPEG viewers' cost to one's, and the frame rate each viewer
got.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.demo import wait_for_port
from vigil.sim.media import CLOCK_REGION

MJPEG_FPS = 10
MJPEG_WIDTH = 960
WEBRTC_MANY = 4  # viewers of the second WebRTC phase (live.webrtc_max_sessions is 8)


@dataclass
class Phase:
    name: str
    viewers: int
    cpu_pct: float  # vigil's process, % of one core
    marginal_pct: float = 0.0  # over the phase without viewers
    viewer_fps: list[float] = field(default_factory=list)  # each viewer's frames a second
    encodes_per_s: float = 0.0  # JPEG encodes a second (one per frame sent, not per viewer)


def _viewer_command(url: str, kind: str, count: int, seconds: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vigil.bench_live",
        "--url",
        url,
        "--kind",
        kind,
        "--count",
        str(count),
        "--seconds",
        str(seconds),
    ]


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
    import uvicorn

    from vigil.api.app import create_app
    from vigil.bench import _free_port, _progress

    main_roles = ["live"] if live_input == "main" else ["record"]
    sub_live = ["live"] if live_input == "sub" else []
    sim_port, http_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "vigil.cli", "--log-level", "WARNING", "sim"]
    command += ["--port", str(sim_port), "--http-port", "0", "--cameras", "1", *sim_args]
    sim = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        command,
        stdout=subprocess.DEVNULL,
    )
    phases: list[Phase] = []
    try:
        wait_for_port(sim_port, 600, sim)
        base = f"rtsp://127.0.0.1:{sim_port}/cam1"
        config = validate_data(
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
        manager = CameraManager(config.cameras)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(manager),
                host="127.0.0.1",
                port=http_port,
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
            url = f"http://127.0.0.1:{http_port}/api/cameras/cam1"
            me = psutil.Process()
            feed = manager.get("cam1").live
            plan = [("none", "", 0), ("mjpeg-1", "mjpeg", 1)]
            plan += [(f"mjpeg-{viewers}", "mjpeg", viewers), ("webrtc-1", "webrtc", 1)]
            plan += [(f"webrtc-{WEBRTC_MANY}", "webrtc", WEBRTC_MANY)]
            for name, kind, count in plan:
                child = None
                if kind:
                    child = subprocess.Popen(  # noqa: S603 - fixed arguments, our module
                        _viewer_command(
                            f"{url}/{kind}" if kind == "mjpeg" else f"{url}/webrtc",
                            kind,
                            count,
                            warmup + seconds + 5,
                        ),
                        stdout=subprocess.PIPE,
                    )
                t0 = time.monotonic()
                while (elapsed := time.monotonic() - t0) < warmup:
                    _progress("warm-up", elapsed, warmup)
                    time.sleep(0.5)
                times = me.cpu_times()
                cpu0, wall0, enc0 = times.user + times.system, time.monotonic(), feed.encodes
                while (elapsed := time.monotonic() - wall0) < seconds:
                    _progress(name, elapsed, seconds)
                    time.sleep(min(0.5, max(0.0, seconds - elapsed)))
                times = me.cpu_times()
                wall = time.monotonic() - wall0
                cpu = 100.0 * (times.user + times.system - cpu0) / wall
                phase = Phase(name, count, round(cpu, 2))
                phase.encodes_per_s = round((feed.encodes - enc0) / wall, 2)
                if child is not None:
                    out, _ = child.communicate(timeout=warmup + seconds + 60)
                    phase.viewer_fps = json.loads(out.decode() or "[]")
                phases.append(phase)
                sys.stderr.write("\n")
                time.sleep(3)  # the viewers' sessions end before the next phase
        finally:
            server.should_exit = True
            thread.join(20)
    finally:
        sim.terminate()
        sim.wait(10)
    none = phases[0].cpu_pct
    for phase in phases:
        phase.marginal_pct = round(phase.cpu_pct - none, 2)
    by = {p.name: p for p in phases}
    one, many = by["mjpeg-1"], by[f"mjpeg-{viewers}"]
    summary = {
        "mjpeg_ratio_total": round(many.cpu_pct / one.cpu_pct, 3),
        "mjpeg_ratio_marginal": round(many.marginal_pct / one.marginal_pct, 3),
        "webrtc_marginal_pct": by["webrtc-1"].marginal_pct,
        "webrtc_many_marginal_pct": by[f"webrtc-{WEBRTC_MANY}"].marginal_pct,
    }
    if as_json:
        print(json.dumps({"phases": [asdict(p) for p in phases], **summary}, indent=2))
        return 0
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
    return 0


# ---- the viewers' process ---------------------------------------------------------------------


def _mjpeg_viewer(url: str, seconds: float, out: list[float]) -> None:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 15)
    sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    marker = b"Content-Type: image/jpeg"
    count, buf, tail = 0, b"", b""
    first: float | None = None
    last = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        buf = sock.recv(1 << 20)
        if not buf:
            break
        hits = (tail + buf).count(marker)
        if hits:
            now = time.monotonic()
            if first is None:
                first = now
            else:
                count += hits
            last = now
        tail = buf[-len(marker) :]
    sock.close()
    elapsed = last - first if first is not None else 0.0
    out.append(round(count / elapsed, 2) if elapsed > 0 else 0.0)


async def _webrtc_viewer(url: str, seconds: float) -> float:
    from urllib.request import Request, urlopen

    from aiortc import RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    times: list[float] = []
    readers: list[asyncio.Task[None]] = []

    async def read(track: Any) -> None:
        while True:
            try:
                await track.recv()
            except Exception:
                return
            times.append(time.monotonic())

    @pc.on("track")
    def on_track(track: Any) -> None:
        readers.append(asyncio.ensure_future(read(track)))

    await pc.setLocalDescription(await pc.createOffer())
    request = Request(  # noqa: S310 - a local http URL the bench built
        url, data=pc.localDescription.sdp.encode(), headers={"Content-Type": "application/sdp"}
    )
    answer = await asyncio.to_thread(lambda: urlopen(request, timeout=30).read().decode())  # noqa: S310
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(seconds)
    await pc.close()
    if len(times) < 2:
        return 0.0
    return round((len(times) - 1) / (times[-1] - times[0]), 2)


async def _webrtc_viewers(url: str, count: int, seconds: float) -> list[float]:
    return list(await asyncio.gather(*(_webrtc_viewer(url, seconds) for _ in range(count))))


def _viewers_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench viewers (vigil bench --profile live)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["mjpeg", "webrtc"], required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    rates: list[float] = []
    if args.kind == "mjpeg":
        threads = [
            threading.Thread(target=_mjpeg_viewer, args=(args.url, args.seconds, rates))
            for _ in range(args.count)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        rates.extend(asyncio.run(_webrtc_viewers(args.url, args.count, args.seconds)))
    print(json.dumps(sorted(rates)))
    return 0


if __name__ == "__main__":
    sys.exit(_viewers_main())
