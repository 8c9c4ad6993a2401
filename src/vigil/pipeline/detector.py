"""The detect thread of one camera: packets of its detect input in, motion events out.

    hub ──> DetectDecoder (this thread) ──> frame ring, frame bus
                                       └──> MotionDetector (analysis pool) ──> events, triggers

- It naps :data:`DETECT_NAP` seconds between batches of packets, so a 15 fps sub-stream
  wakes it 5 times a second, not 15.
- Decoding stays on this thread (its CPU shows in the camera's ``cpu_pct``); motion runs in
  the shared, niced analysis pool, its CPU charged to the camera.
- What is decoded (adaptive idle decoding, the governor's levels) is decided per stream by
  :class:`~vigil.pipeline.motion_pipeline.MotionPipeline`; this thread switches the input for
  level 3 (the camera's lower-resolution input, where it has one).
- Times: frames carry stream time; events are stored in wall time through the same
  least-delay anchor the recorder uses (:class:`~vigil.media.clock.StreamClock`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import av

from vigil.config import DetectConfig
from vigil.const import STATS_WINDOW
from vigil.errors import DecodeError
from vigil.media.clock import StreamClock
from vigil.media.cpu import CpuMeter
from vigil.media.failures import Failures
from vigil.media.heartbeat import Heartbeat
from vigil.media.hub import PacketHub, Subscription
from vigil.media.jpeg import encode_gray
from vigil.media.packets import EndOfStream, MediaPacket
from vigil.media.pools import analysis_pool, run_charged
from vigil.pipeline.detect_decoder import DetectFrame
from vigil.pipeline.detect_stats import DetectStats, decoder_counts
from vigil.pipeline.framebus import FrameBusError, FrameBusWriter, bus_path
from vigil.pipeline.motion import MotionDetector, MotionEvent, MotionUpdate
from vigil.pipeline.motion_pipeline import Job, MotionPipeline
from vigil.pipeline.ring import FrameRing
from vigil.sources.hwaccel import HwaccelChoice
from vigil.storage.index import Index

TRIGGER_REFRESH = 5.0  # seconds between triggers to the recorder while motion goes on
DETECT_NAP = 0.2  # seconds between batches: adds at most this to detection latency
LIVE_NAP = 0.04  # ... while its frames also feed live view (smooth MJPEG, not bursts)
DETECT_QUEUE = 120  # packets queued for the decoder (8 s of a 15 fps sub-stream)
LEVEL_NAMES = ("normal", "fewer frames", "key frames only", "lower-resolution input")
MAX_LEVEL = len(LEVEL_NAMES) - 1


class Detector(threading.Thread):
    """Motion detection of one camera, on its own thread."""

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        config: DetectConfig,
        *,
        hwaccel: HwaccelChoice,
        cpu: CpuMeter,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        index: Index | None = None,
        trigger: Callable[[], Callable[[float], object] | None] = lambda: None,
        bus_root: Path | None = None,
        bus_dir: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
        failures: Failures | None = None,
    ):
        super().__init__(name=f"vigil-detect-{camera}", daemon=True)
        self.camera = camera
        self.config = config
        self.hwaccel = hwaccel
        self.cpu = cpu
        self.log = log
        self.index = index
        self.trigger = trigger
        self.bus_root = bus_root
        self.bus_dir = bus_dir
        self.wall_clock = wall_clock
        self.ring = FrameRing()
        self.bus: FrameBusWriter | None = None
        self.stats = DetectStats(hwaccel=hwaccel)
        self.failures = failures or Failures("detector")  # the supervisor's, across restarts
        self.heartbeat = Heartbeat()
        self.level = 0
        self.reason = "as configured"
        self._hub = hub
        self._next_hub: PacketHub | None = None
        self._sub: Subscription | None = hub.subscribe(f"detect:{camera}", DETECT_QUEUE)
        self._stopping = threading.Event()
        self._pipeline: MotionPipeline | None = None
        self._connection: int | None = None
        self._idle_base = self._catch_up_base = 0  # counts of the pipelines before this one
        self._clock = StreamClock()
        self._motion = MotionDetector(config.motion)  # kept across reconnects
        self._last_trigger = 0.0  # wall time of the last trigger sent to the recorder
        self._pool = analysis_pool()
        self._processed: deque[tuple[float, int]] = deque()
        self._counts_lock = threading.Lock()
        self.tap: Callable[[av.VideoFrame], None] | None = None  # live view, see set_tap

    # ---- control, from other threads ---------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        sub = self._sub
        if sub is not None:
            sub.close()

    def switch(self, hub: PacketHub) -> None:
        """Detect on another input's packets from the next batch on."""
        if hub is not self._hub:
            self._next_hub = hub
            sub = self._sub
            if sub is not None:
                sub.close()  # wake the thread up; it resubscribes

    @property
    def hub(self) -> PacketHub:
        return self._next_hub or self._hub

    def set_tap(self, tap: Callable[[av.VideoFrame], None] | None) -> None:
        """Hand every decoded frame to `tap` (the live feed) from now on; None stops it."""
        self.tap = tap
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.decoder.tap = tap

    def last_frame(self) -> tuple[av.VideoFrame, float] | None:
        """The last frame processed, in colour, and its time.monotonic(); for snapshots."""
        pipeline = self._pipeline
        return pipeline.decoder.last if pipeline is not None else None

    def set_level(self, level: int, reason: str) -> None:
        """The governor's step: see the module's doc for what each level does (the
        supervisor switches the input for level 3)."""
        self.level, self.reason = level, reason
        self.stats.governor_steps += 1

    def fps(self, now: float) -> float:
        """Frames processed per second over the last window."""
        with self._counts_lock:
            samples = list(self._processed)
        if len(samples) < 2 or samples[-1][0] - samples[0][0] <= 0:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0)

    def sample(self, now: float) -> None:
        """Once a second from the monitor."""
        pipeline = self._pipeline
        processed = pipeline.decoder.counts.processed if pipeline is not None else 0
        with self._counts_lock:
            if self._processed and processed < self._processed[-1][1]:
                self._processed.clear()  # a new decoder counts from zero
            self._processed.append((now, processed))
            while len(self._processed) > 2 and now - self._processed[1][0] >= STATS_WINDOW:
                self._processed.popleft()

    # ---- the thread ----------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self.heartbeat.beat()
                sub = self._sub
                if sub is None or self._next_hub is not None:
                    sub = self._resubscribe()
                closed = sub.wait_closed(DETECT_NAP if self.tap is None else LIVE_NAP)
                try:
                    self._take(sub)
                except Exception as err:  # never end detection for good: report, wait, go on
                    self._interrupted(err)
                    continue
                if closed and self._next_hub is None:
                    break  # the input stopped
        finally:
            ended = self._motion.finish()
            if ended is not None:
                self._ended(ended)
            if self.bus is not None:
                self.bus.close()

    def _interrupted(self, err: Exception) -> None:
        """Drop the decoding pipeline the error may have left half-made, wait, and go on at
        the next key frame (the motion state, and an event in progress, are kept)."""
        error, delay = self.failures.record(err, "E306", "detection interrupted")
        self.log.error("%s; going on in %.0f s", error, delay, exc_info=err)
        self.heartbeat.rest(delay)
        self._pipeline = None
        self._connection = None
        self._stopping.wait(delay)

    def _resubscribe(self) -> Subscription:
        old = self._sub
        if old is not None:
            self._hub.unsubscribe(old)
        if self._next_hub is not None:
            self._hub, self._next_hub = self._next_hub, None
        self._connection = None  # the next key frame opens a pipeline for the new stream
        self._sub = self._hub.subscribe(f"detect:{self.camera}", DETECT_QUEUE)
        return self._sub

    def _take(self, sub: Subscription) -> None:
        try:
            items = sub.drain(0)
        except EndOfStream:
            return
        # one clock reading a batch: a packet's arrival is its monotonic time on this base
        base = self.wall_clock() - time.monotonic()
        for item in items:
            if item.is_video:
                self._packet(item, base)
        if self._pipeline is not None:
            self._pipeline_stats(self._pipeline)

    def _packet(self, item: MediaPacket, base: float) -> None:
        pipeline = self._pipeline_for(item)
        if pipeline is None:
            return
        packet = item.packet
        if packet.dts is not None:
            self._clock.observe(base + item.received, float(packet.dts * packet.time_base))
        if pipeline.level != self.level:
            pipeline.set_level(self.level)
        for frame, update in pipeline.feed(packet):
            self._frame(frame, update)

    def _pipeline_for(self, item: MediaPacket) -> MotionPipeline | None:
        if item.info.connection == self._connection:
            return self._pipeline
        if not item.keyframe:
            return None  # a new stream starts at a key frame
        self._connection = item.info.connection
        self._pipeline = None
        self._idle_base, self._catch_up_base = self.stats.idle_switches, self.stats.catch_ups
        self._clock.reset()
        try:
            pipeline = MotionPipeline(
                item.info.video,
                self.config,
                self._motion,
                hwaccel=self.hwaccel,
                log=self.log,
                run=self._run_in_pool,
            )
        except Exception as err:  # a codec FFmpeg lacks: say so, keep recording
            self.log.error(
                "%s", DecodeError(f"cannot decode {item.info.codec}: {err}", code="E303")
            )
            return None
        self.stats.hwaccel = pipeline.decoder.method
        pipeline.decoder.tap = self.tap
        self._pipeline = pipeline
        return pipeline

    def _run_in_pool(self, job: Job) -> MotionUpdate:
        update, seconds = run_charged(self._pool, job)
        self.cpu.charge(seconds)
        return update

    def _pipeline_stats(self, pipeline: MotionPipeline) -> None:
        stats = self.stats
        stats.mode = pipeline.mode
        stats.frames = decoder_counts(pipeline.decoder)
        stats.idle_switches = self._idle_base + pipeline.idle_switches
        stats.catch_ups = self._catch_up_base + pipeline.catch_ups

    def _frame(self, frame: DetectFrame, update: MotionUpdate) -> None:
        wall = self._clock.wall(frame.at)
        self.ring.push(frame.gray, frame.at, wall)
        if self.config.framebus:
            self._publish(frame, wall)
        self._motion_update(update, frame.at)

    def _motion_update(self, update: MotionUpdate, at: float) -> None:
        if update.started is not None:
            self.log.info("motion started")
            self._send_trigger(update.started.start)
        elif update.moving:
            wall = self._clock.wall(at)
            if wall is not None and wall - self._last_trigger >= TRIGGER_REFRESH:
                self._send_trigger(at)
        if update.ended is not None:
            self._ended(update.ended)

    def _send_trigger(self, at: float) -> None:
        wall = self._clock.wall(at)
        trigger = self.trigger()
        if wall is None or trigger is None:
            return
        self._last_trigger = wall
        try:
            trigger(wall)
        except Exception:  # the recorder's trouble must not stop detection
            self.log.exception("event trigger failed")

    def _ended(self, event: MotionEvent) -> None:
        self.stats.events += 1
        start = self._clock.wall(event.start)
        end = self._clock.wall(event.end)
        self.log.info(
            "motion event: %.1f s, peak %.1f %% of the frame, zones %s",
            event.end - event.start,
            event.peak_area * 100,
            ",".join(sorted(event.zones)),
        )
        if start is None or end is None:
            return
        if end > self._last_trigger:
            self._send_trigger(event.end)
        if self.index is None:
            return
        thumbnail: bytes | None = None
        if event.peak_frame is not None:
            peak = event.peak_frame
            thumbnail, seconds = run_charged(self._pool, lambda: encode_gray(peak))
            self.cpu.charge(seconds)
        try:
            self.index.add_event(
                camera=self.camera,
                start=start,
                end=end,
                peak_area=event.peak_area,
                zones=sorted(event.zones),
                thumbnail=thumbnail,
            )
        except Exception:  # a database in trouble loses the event, not the camera
            self.log.exception("could not store a motion event")

    def _publish(self, frame: DetectFrame, wall: float | None) -> None:
        height, width = frame.gray.shape
        bus = self.bus
        if bus is None or (bus.height, bus.width) != (height, width):
            if bus is not None:
                bus.close()
            self.bus = bus = self._open_bus(width, height)
            if bus is None:
                self.config = self.config.model_copy(update={"framebus": False})
                return
        bus.write(frame.gray, frame.at, wall)

    def _open_bus(self, width: int, height: int) -> FrameBusWriter | None:
        """The bus in /dev/shm; if that is full or missing, in the storage dir (E305)."""
        root = self.bus_root or Path(".")
        places = [bus_path(root, self.camera, self.bus_dir)]
        places.append(bus_path(root, self.camera, root / "framebus"))
        for path in places:
            try:
                writer = FrameBusWriter(path, width, height, group=self.config.framebus_group)
                self.log.info("frame bus at %s (docs/framebus.md)", path)
                return writer
            except FrameBusError as err:
                self.log.warning("%s", DecodeError(f"frame bus: {err.strerror}", code="E305"))
        return None
