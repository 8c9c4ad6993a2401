"""The simulator: cameras, their RTSP server and HTTP port, and what ``vigil sim`` runs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import time
from collections.abc import Iterable
from typing import Any

from vigil.sim.audio import AudioCodec, make_audio
from vigil.sim.auth import Credentials
from vigil.sim.http import start_http
from vigil.sim.media import MAIN, MOTION_PERIOD, MOTION_WINDOW, SUB, Clip, ClipSpec, load_clip
from vigil.sim.rtp import MAX_PAYLOAD
from vigil.sim.rtsp import RtspServer, SimCamera
from vigil.sim.sender import Faults

_log = logging.getLogger(__name__)
FAULT_NAMES = tuple(f.name for f in dataclasses.fields(Faults))


def alt_spec(spec: ClipSpec) -> ClipSpec:
    """The other size a camera switches to under the `resolution` fault: half, kept even."""
    return dataclasses.replace(
        spec, width=max(64, spec.width // 4 * 2), height=max(36, spec.height // 4 * 2)
    )


def build_cameras(
    count: int,
    main: ClipSpec = MAIN,
    sub: ClipSpec | None = SUB,
    *,
    auth: dict[str, tuple[str, str]] | None = None,
    quiet: bool = False,
    rtp_payload: int = MAX_PAYLOAD,
    alt: bool = False,
    audio: dict[str, AudioCodec] | None = None,
    h265: Iterable[str] = (),
) -> dict[str, SimCamera]:
    """`count` cameras named cam1..camN sharing the same clips (encoded once, cached).

    `rtp_payload` is the largest RTP payload in bytes: 1400 fits an Ethernet MTU, as cameras
    send; larger values are legal over TCP and cheaper for the receiver to demux. `alt`
    also prepares the half-size streams of the `resolution` fault. `audio` gives cameras an
    audio track: ``{"cam2": "pcmu"}`` (G.711 µ-law, as many cameras send) or ``"aac"``.
    Cameras named in `h265` send an H.265 main stream (encoded once, like the H.264 one).
    """
    specs = {"main": main, **({"sub": sub} if sub is not None else {})}
    streams = {n: load_clip(s, quiet=quiet, max_payload=rtp_payload) for n, s in specs.items()}
    alts: dict[str, Clip] = {}
    if alt:
        alts = {
            n: load_clip(alt_spec(s), quiet=quiet, max_payload=rtp_payload)
            for n, s in specs.items()
        }
    hevc = set(h265)
    hevc_main = (
        load_clip(dataclasses.replace(main, codec="h265"), quiet=quiet, max_payload=rtp_payload)
        if hevc
        else None
    )
    seconds = streams["main"].duration
    sounds = {c: make_audio(c, seconds, rtp_payload) for c in set((audio or {}).values())}
    cameras = {}
    for n in range(1, count + 1):
        name = f"cam{n}"
        creds = (auth or {}).get(name)
        codec = (audio or {}).get(name)
        own = {**streams, "main": hevc_main} if hevc_main is not None and name in hevc else streams
        cameras[name] = SimCamera(
            name,
            own,
            alt_streams=alts,
            credentials=Credentials(*creds) if creds else None,
            audio=sounds[codec] if codec else None,
        )
    return cameras


def parse_audio(items: Iterable[str]) -> dict[str, AudioCodec]:
    """``cam2:pcmu`` -> ``{"cam2": "pcmu"}``."""
    out: dict[str, AudioCodec] = {}
    for item in items:
        cam, _, codec = item.partition(":")
        if codec not in ("pcmu", "aac"):
            raise ValueError(f"audio is pcmu or aac, not {codec!r}")
        out[cam] = codec  # type: ignore[assignment]
    return out


def parse_auth(items: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``cam3:user:pass`` -> ``{"cam3": ("user", "pass")}``."""
    out = {}
    for item in items:
        parts = item.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--auth is camN:USER:PASS, not {item.split(':')[0]}:...")
        out[parts[0]] = (parts[1], parts[2])
    return out


def parse_fault(item: str) -> tuple[str, dict[str, object]]:
    """``cam2:drop_after=20`` -> ("cam2", {"drop_after": 20.0}); a bare name is a flag."""
    cam, _, spec = item.partition(":")
    name, sep, value = spec.partition("=")
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r} (faults: {', '.join(FAULT_NAMES)})")
    parsed: object
    if not sep:
        parsed = True
    elif name == "resolution":
        parsed = value
    elif value.lower() in ("true", "false", "1", "0") and name in (
        "refuse",
        "garbage",
        "slow",
        "flood",
        "unauthorized",
    ):
        parsed = value.lower() in ("true", "1")
    else:
        try:
            parsed = None if value.lower() in ("", "none", "null") else float(value)
        except ValueError:
            raise ValueError(f"fault {name} takes a number of seconds, not {value!r}") from None
    Faults().update({name: parsed})  # validate now, with the same rules as the control API
    return cam, {name: parsed}


class Simulator:
    """Simulated cameras served over RTSP, with an HTTP port for MJPEG and control."""

    def __init__(
        self,
        cameras: dict[str, SimCamera],
        host: str = "127.0.0.1",
        port: int = 8554,
        http_port: int | None = 8555,
        *,
        rtp_payload: int = MAX_PAYLOAD,
    ):
        self.cameras = cameras
        self.host = host
        self.rtp_payload = rtp_payload
        self.epoch = time.monotonic()
        self.wall_epoch = time.time() - (time.monotonic() - self.epoch)
        self.rtsp = RtspServer(cameras, host, port, epoch=self.epoch)
        self.http_port = http_port
        self._http: Any = None
        self._http_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.rtsp.start()
        if self.http_port is not None:
            self._http, self._http_task = await start_http(self, self.host, self.http_port)
            self.http_port = self._http.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                await self._http_task
        await self.rtsp.stop()

    @property
    def port(self) -> int:
        return self.rtsp.port

    async def set_faults(self, camera: str, changes: dict[str, object]) -> Faults:
        """Change a camera's faults; switching resolution prepares the other size first."""
        cam = self.cameras[camera]
        trial = dataclasses.replace(cam.faults)
        trial.update(changes)  # validate before anything changes
        if changes.get("resolution") == "alt" and not cam.alt_streams:
            await asyncio.to_thread(self._prepare_alt)
        cam.faults.update(changes)
        _log.info("%s faults: %s", camera, changes)
        return cam.faults

    def _prepare_alt(self) -> None:
        first = next(iter(self.cameras.values()))
        alts = {
            n: load_clip(alt_spec(c.spec), quiet=True, max_payload=self.rtp_payload)
            for n, c in first.streams.items()
        }
        for cam in self.cameras.values():
            cam.alt_streams = alts

    def motion_schedule(self, start: float, end: float) -> list[tuple[float, float]]:
        """Wall-clock (Unix time) intervals during which the object moves, within a range.

        Every camera shows the same clip time at the same moment (frame n at epoch + n/fps).
        """
        clip = next(iter(self.cameras.values())).streams["main"]
        period = min(MOTION_PERIOD, clip.duration)
        k = int((start - self.wall_epoch) // period) - 1
        out: list[tuple[float, float]] = []
        while True:
            base = self.wall_epoch + k * period
            lo, hi = base + MOTION_WINDOW[0], base + min(MOTION_WINDOW[1], period)
            if lo >= end:
                return out
            if hi > start and lo < hi:
                out.append((max(lo, start), min(hi, end)))
            k += 1


async def serve(sim: Simulator) -> None:
    """Serve until SIGINT or SIGTERM."""
    await sim.start()
    print(
        f"vigil sim: {len(sim.cameras)} camera(s) on rtsp://{sim.host}:{sim.port}/camN/main|sub"
        + (f", http://{sim.host}:{sim.http_port}/" if sim.http_port else ""),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()
