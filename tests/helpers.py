"""Test helpers and shared constants: wait on conditions with deadlines, run the simulator,
make media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import av
import numpy as np
from fastapi import FastAPI

from vigil.api.protocol import http_options
from vigil.camera.cameras import Cameras
from vigil.camera.manager import CameraManager
from vigil.camera.worker import WorkerSettings
from vigil.camera.workers import WorkerPool
from vigil.config import CameraConfig
from vigil.recording.recorder import RecordingContext
from vigil.recording.segment import SegmentWriter
from vigil.sim.media import ClipSpec
from vigil.sim.rtsp import SimCamera
from vigil.sim.server import Simulator

T = TypeVar("T")

SMALL = ClipSpec(width=320, height=180, fps=15, gop=15, bitrate=300_000, seconds=4)
CAM_USER, CAM_SECRET = "admin", "s3cret-Pa55"  # what the session simulator's cam3 wants


def wait_for(
    predicate: Callable[[], T | Literal[False] | None], timeout: float, what: str = "condition"
) -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class ManualClock:
    """A :class:`~vigil.media.clock.Clock` that only a test moves: waits on it end when the test
    advances past them (or their event is set), so an hour of backoff passes in a moment."""

    def __init__(self, start: float = 1000.0):
        self._now = start
        self._cond = threading.Condition()
        self.waiting = 0  # threads waiting on it now

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        with self._cond:
            deadline = self._now + seconds
            self.waiting += 1
            try:
                while not event.is_set() and self._now < deadline:
                    self._cond.wait(0.05)  # the event is set by another thread: look again
            finally:
                self.waiting -= 1
        return event.is_set()


def seconds_of(item: av.Packet[Any] | av.VideoFrame | av.AudioFrame) -> float:
    """Where a packet or frame is on its stream's timeline, in seconds."""
    assert item.pts is not None and item.time_base is not None
    return float(item.pts * item.time_base)


def seconds_between(first: int, pts: int, time_base: Fraction | None) -> float:
    """Seconds from timestamp `first` to `pts` on a stream of `time_base`."""
    assert time_base is not None
    return float((pts - first) * time_base)


def camera_service(
    cameras: dict[str, CameraConfig], workers: int, recording: RecordingContext | None = None
) -> Cameras:
    """The cameras as ``vigil run`` serves them with ``server.workers: workers``: every
    camera in this process (1), or spread over real worker processes. The app's lifespan
    starts and stops either. A recording's index must be a file: workers write it too."""
    if workers == 1:
        return CameraManager(cameras, recording=recording)
    database = Path(str(recording.index.engine.url.database)) if recording is not None else None
    root = recording.root if recording is not None else None
    return WorkerPool(
        cameras, WorkerSettings(0, root, database), workers=workers, recording=recording
    )


def monitor_passes(manager: CameraManager, passes: int, timeout: float = 15) -> None:
    """Wait until the manager's monitor has looked at every camera `passes` more times: what it
    would do (idle a camera, restart a stalled input, step the governor) it has done."""
    start = manager.ticks
    wait_for(lambda: manager.ticks >= start + passes, timeout, f"{passes} monitor passes")


def top_level(path: Path) -> list[bytes]:
    """The kinds of a file's top-level MP4 boxes, in order."""
    data, kinds, pos = path.read_bytes(), [], 0
    while pos < len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
        kinds.append(kind)
        pos += size
    return kinds


def is_fast_start(path: Path) -> bool:
    """ftyp, then moov, then only media data and free space: no fragment left to misread."""
    kinds = top_level(path)
    return (
        kinds[:2] == [b"ftyp", b"moov"]
        and b"mdat" in kinds
        and set(kinds[2:])
        <= {
            b"mdat",
            b"free",
        }
    )


@contextlib.contextmanager
def fed_segment(source: Path, final: Path) -> Iterator[SegmentWriter]:
    """A segment writer for `final` fed every video packet of the file `source`, not yet
    closed; the source stays open while the context lasts."""
    with av.open(str(source)) as src:
        video = src.streams.video[0]
        writer = SegmentWriter(final, 1.0, video, None)
        for packet in src.demux(video):
            if packet.dts is not None:
                writer.write(packet, True)
        yield writer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """A real uvicorn server for an app, in a thread (for streaming responses and sockets)."""

    def __init__(self, app: FastAPI):
        import uvicorn

        self.app = app
        self.port = free_port()
        # as vigil.server runs it: its protocol, and HttpPolicy deciding on proxy headers
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, **http_options())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-http", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 20, "server up")
        assert self.server.started, "the server didn't start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class SimThread:
    """The simulator on its own event loop in a thread (tests only)."""

    def __init__(self, cameras: dict[str, SimCamera], port: int = 0, http: bool = False):
        self.cameras = cameras
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(cameras, "127.0.0.1", port, 0 if http else None)
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-sim", daemon=True)

    def __enter__(self) -> SimThread:
        self.thread.start()
        self.call(self.sim.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def set_faults(self, camera: str, **changes: object) -> None:
        self.call(self.sim.set_faults(camera, changes))

    @property
    def port(self) -> int:
        return self.sim.port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.sim.http_port}"

    def url(self, camera: str, stream: str = "main") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{camera}/{stream}"


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: int = 15,
    size: tuple[int, int] = (320, 180),
    gop: int = 15,
    audio: bool = False,
    video: bool = True,
) -> Path:
    """A small H.264 MP4 (optionally with AAC audio, or audio only) generated with PyAV."""
    width, height = size
    with av.open(str(path), "w") as out:
        vstream: Any = None
        if video:
            vstream = out.add_stream("libx264", rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.codec_context.gop_size = gop
            vstream.codec_context.max_b_frames = 0
            vstream.codec_context.options = {"preset": "ultrafast"}
        astream: Any = out.add_stream("aac", rate=16000) if audio else None
        frames = round(seconds * fps)
        for i in range(frames):
            if vstream is not None:
                img = np.full((height, width, 3), (i * 7) % 255, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = i
                frame.time_base = Fraction(1, fps)
                out.mux(vstream.encode(frame))
        if vstream is not None:
            out.mux(vstream.encode(None))
        if astream is not None:
            samples = int(seconds * 16000)
            for start in range(0, samples, 1024):
                pcm = np.zeros((1, 1024), dtype=np.float32)
                aframe = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
                aframe.sample_rate = 16000
                aframe.pts = start
                out.mux(astream.encode(aframe))
            out.mux(astream.encode(None))
    return path


class LibavWarnings(logging.Handler):
    """Collects FFmpeg's warnings and errors while in use (``with LibavWarnings() as w``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")

    def __enter__(self) -> LibavWarnings:
        logging.getLogger("libav").addHandler(self)
        av.logging.set_level(av.logging.WARNING)
        return self

    def __exit__(self, *exc: object) -> None:
        av.logging.set_level(None)
        logging.getLogger("libav").removeHandler(self)
