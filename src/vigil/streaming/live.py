"""A camera's live JPEG feed: one encode per frame, shared by every MJPEG viewer and snapshot.

    live input's decoder ──offer(frame)──> LiveFeed ──> latest JPEG ──> every MJPEG viewer
    (the detect decoder when it is the         (rate cap, scale,        └─> snapshots
     same input, else a LiveDecoder)            encode in the pool)

- A decoder thread calls :meth:`LiveFeed.offer` with each decoded frame. Only while someone
  wants frames, and at most ``live.mjpeg_fps`` times a second, a frame is scaled to
  ``live.mjpeg_width`` and encoded once, in the shared analysis pool (its CPU charged to the
  camera). Viewers read :attr:`LiveFeed.latest`: a slow one simply gets the newest frame
  when it is ready for one, and skips the rest; nothing queues per viewer.
- Viewers are counted by kind (:meth:`LiveFeed.watch`). The first viewer that wants frames,
  and the last one to leave, call the camera's hooks: the supervisor then starts or stops
  decoding for live view (and connects an on-demand camera). WebRTC viewers count as
  viewers but want packets, not frames.
- Async viewers wait for the next frame on their own event loop: the producing thread wakes
  each waiting loop once per frame (``call_soon_threadsafe``), never blocks on them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import av
from av.video.reformatter import VideoReformatter

from vigil.config import LiveConfig
from vigil.media.cpu import CpuMeter
from vigil.media.failures import Failures
from vigil.media.jpeg import JpegEncoder
from vigil.media.pools import analysis_pool, run_charged, timed

_log = logging.getLogger(__name__)

FRAMES = "frames"  # MJPEG and snapshot viewers: want decoded frames
PACKETS = "packets"  # WebRTC viewers: want the camera's packets only
FRESH = 2.0  # seconds: a frame younger than this is shown as is to a new viewer


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """One encoded frame, shared by every viewer."""

    jpeg: bytes
    seq: int
    taken: float  # time.monotonic() when it was decoded
    width: int
    height: int

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.monotonic() if now is None else now) - self.taken)


Hook = Callable[[str, bool], None]  # (kind, wanted): the first viewer came / the last left


class LiveFeed:
    """The live JPEGs of one camera, made only while someone watches."""

    def __init__(
        self,
        camera: str,
        config: LiveConfig,
        cpu: CpuMeter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.camera = camera
        self.config = config
        self.cpu = cpu
        self.latest: LiveFrame | None = None
        self.encodes = 0  # JPEG encodes made (one per frame sent, whatever the viewers)
        self.failures = Failures("live")  # encodes and live decoding that failed
        self.hook: Hook = lambda kind, wanted: None
        # each frame as it is published (a worker process hands it to the main process)
        self.on_publish: Callable[[LiveFrame], None] | None = None
        self._clock = clock  # of the idle timer only (frames are stamped on time.monotonic)
        self.last_viewer_left = clock()
        self.closed = False  # the camera was removed or replaced: viewers' streams end
        self.epoch = uuid.uuid4().hex[:8]  # with a frame's seq, an ETag unique across restarts
        self._viewers = {FRAMES: 0, PACKETS: 0}
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        self._scaler = VideoReformatter()
        self._encoder = JpegEncoder()
        self._next_due = 0.0
        self._seq = 0
        self._still: tuple[av.VideoFrame, LiveFrame] | None = None  # a snapshot, its source
        self._still_lock = threading.Lock()

    # ---- viewers -------------------------------------------------------------------------

    @property
    def viewers(self) -> int:
        return self._viewers[FRAMES] + self._viewers[PACKETS]

    @property
    def frame_viewers(self) -> int:
        return self._viewers[FRAMES]

    @property
    def wants_frames(self) -> bool:
        return self._viewers[FRAMES] > 0

    def add_viewer(self, kind: str) -> None:
        with self._lock:
            self._viewers[kind] += 1
            first = self._viewers[kind] == 1
        if first:
            self.hook(kind, True)

    def remove_viewer(self, kind: str) -> None:
        with self._lock:
            self._viewers[kind] -= 1
            last = self._viewers[kind] == 0
            if last and kind == FRAMES:
                # no more frames are encoded: the next viewer must not get this one first
                # as if it were live (it may be hours old, from before the camera idled)
                self.latest = None
            if self.viewers == 0:
                self.last_viewer_left = self._clock()
        if last:
            self.hook(kind, False)

    @asynccontextmanager
    async def watch(self, kind: str = FRAMES) -> AsyncIterator[LiveFeed]:
        """Count a viewer for as long as the block runs (a disconnect ends it too)."""
        self.add_viewer(kind)
        try:
            yield self
        finally:
            self.remove_viewer(kind)

    # ---- the producer: a decoder thread --------------------------------------------------

    def offer(self, frame: av.VideoFrame) -> None:
        """A decoded frame of the live input: encoded if someone watches and one is due.

        It never raises: an encode that fails is reported (E507), and the next one waits a
        growing delay; the decoder that offers (detection's, or live view's own) goes on."""
        if not self._viewers[FRAMES]:
            return
        now = time.monotonic()
        if now < self._next_due:
            return
        interval = 1.0 / self.config.mjpeg_fps
        # on schedule, which absorbs jitter; after a gap, from now (no burst to catch up)
        self._next_due = (self._next_due if now - self._next_due < interval else now) + interval
        try:
            self._encode(frame, now)
        except Exception as err:
            error, delay = self.failures.record(err, "E507", "live view interrupted")
            _log.error("[%s] %s; next frame in %.0f s", self.camera, error, delay, exc_info=err)
            self._next_due = now + delay

    def _encode(self, frame: av.VideoFrame, now: float) -> None:
        width, height = scaled_size(frame.width, frame.height, self.config.mjpeg_width)
        small = self._scaler.reformat(frame, width, height, "yuvj420p", interpolation="AREA")
        jpeg, seconds = run_charged(analysis_pool(), lambda: self._encoder.encode(small))
        if self.cpu is not None:
            self.cpu.charge(seconds)
        self._publish(LiveFrame(jpeg, self._next_seq(), now, width, height))

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def publish(self, frame: LiveFrame) -> None:
        """A frame encoded elsewhere (in the camera's worker process): shown to every viewer
        here as one encoded here would be, numbered in this feed's sequence (a restarted
        worker numbers its frames from 1 again)."""
        ours = LiveFrame(frame.jpeg, self._next_seq(), frame.taken, frame.width, frame.height)
        self._publish(ours, encoded=False)

    def _publish(self, frame: LiveFrame, encoded: bool = True) -> None:
        with self._lock:
            self.encodes += encoded
            self.latest = frame
            waiters, self._waiters = self._waiters, {}
        if self.on_publish is not None:
            self.on_publish(frame)
        for loop, futures in waiters.items():
            with suppress(RuntimeError):  # a closed loop: its viewers are gone
                loop.call_soon_threadsafe(_wake, futures)

    def close(self) -> None:
        """End every viewer's stream (the camera is gone or replaced by a new one)."""
        with self._lock:
            self.closed = True
            waiters, self._waiters = self._waiters, {}
        for loop, futures in waiters.items():
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, futures)

    # ---- consumers -----------------------------------------------------------------------

    async def next_frame(self, after: int, timeout: float) -> LiveFrame | None:
        """The newest frame later than seq `after`, waiting up to `timeout` s for one."""
        latest = self.latest
        if latest is not None and latest.seq > after:
            return latest
        if self.closed:
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters.setdefault(loop, []).append(future)
            latest = self.latest
        if latest is None or latest.seq <= after:
            with suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
        latest = self.latest
        return latest if latest is not None and latest.seq > after else None

    async def still(self, frame: av.VideoFrame, taken: float) -> LiveFrame:
        """A snapshot of `frame` (the detect decoder's last): encoded once, in the pool,
        however many requests ask for it."""
        cached = self._still
        if cached is not None and cached[0] is frame:
            return cached[1]
        return await asyncio.wrap_future(self._still_job(frame, taken))

    def still_now(self, frame: av.VideoFrame, taken: float) -> LiveFrame:
        """:meth:`still`, for a thread that may block (a worker process's command loop)."""
        cached = self._still
        if cached is not None and cached[0] is frame:
            return cached[1]
        return self._still_job(frame, taken).result()

    def _still_job(self, frame: av.VideoFrame, taken: float) -> Future[LiveFrame]:
        def encode() -> LiveFrame:
            with self._still_lock:
                cached = self._still
                if cached is not None and cached[0] is frame:
                    return cached[1]
                width, height = scaled_size(frame.width, frame.height, self.config.mjpeg_width)
                small = frame.reformat(width, height, "yuvj420p", interpolation="AREA")
                jpeg = JpegEncoder().encode(small)
                self.encodes += 1
                out = LiveFrame(jpeg, self._next_seq(), taken, width, height)
                self._still = (frame, out)
                return out

        def charged() -> LiveFrame:
            out, seconds = timed(encode)
            if self.cpu is not None:
                self.cpu.charge(seconds)
            return out

        return analysis_pool().submit(charged)


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


def scaled_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """`width` x `height` scaled down to at most `max_width`, both even."""
    out = min(max_width, width) // 2 * 2
    return out, max(2, round(height * out / width / 2) * 2)
