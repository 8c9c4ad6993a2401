"""Assemble simulated cameras and serve them: what ``vigil sim`` runs."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterable

from vigil.sim.auth import Credentials
from vigil.sim.media import MAIN, SUB, ClipSpec, load_clip
from vigil.sim.rtp import MAX_PAYLOAD
from vigil.sim.rtsp import Faults, RtspServer, SimCamera

_log = logging.getLogger(__name__)
FAULT_NAMES = ("refuse", "drop_after", "stall_after", "unauthorized")


def build_cameras(
    count: int,
    main: ClipSpec = MAIN,
    sub: ClipSpec | None = SUB,
    *,
    auth: dict[str, tuple[str, str]] | None = None,
    quiet: bool = False,
    rtp_payload: int = MAX_PAYLOAD,
) -> dict[str, SimCamera]:
    """`count` cameras named cam1..camN sharing the same clips (encoded once, cached).

    `rtp_payload` is the largest RTP payload in bytes: 1400 fits an Ethernet MTU, as cameras
    send; larger values are legal over TCP and cheaper for the receiver to demux.
    """
    streams = {"main": load_clip(main, quiet=quiet, max_payload=rtp_payload)}
    if sub is not None:
        streams["sub"] = load_clip(sub, quiet=quiet, max_payload=rtp_payload)
    cameras = {}
    for n in range(1, count + 1):
        name = f"cam{n}"
        creds = (auth or {}).get(name)
        cameras[name] = SimCamera(name, streams, credentials=Credentials(*creds) if creds else None)
    return cameras


def parse_auth(items: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``cam3:user:pass`` -> ``{"cam3": ("user", "pass")}``."""
    out = {}
    for item in items:
        cam, user, password = item.split(":", 2)
        out[cam] = (user, password)
    return out


def apply_fault(cameras: dict[str, SimCamera], item: str) -> None:
    """Apply ``cam2:drop_after=20`` or ``cam1:refuse`` (a flag) to a camera's faults."""
    cam, _, spec = item.partition(":")
    name, _, value = spec.partition("=")
    if cam not in cameras or name not in FAULT_NAMES:
        raise ValueError(f"unknown camera or fault in {item!r} (faults: {', '.join(FAULT_NAMES)})")
    faults: Faults = cameras[cam].faults
    current = getattr(faults, name)
    setattr(faults, name, float(value) if not isinstance(current, bool) else value != "0")


async def serve(cameras: dict[str, SimCamera], host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = RtspServer(cameras, host, port)
    await server.start()
    print(
        f"vigil sim: {len(cameras)} camera(s) on rtsp://{host}:{server.port}/camN/main|sub",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
