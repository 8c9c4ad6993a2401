"""The recorder thread of one camera: cut the record input's packets into segments.

In ``record.mode: continuous`` every packet is written; an event only marks the segments it
touches (``has_event``). In ``events`` mode packets go to a RAM :class:`PreBuffer` until a
trigger; the recording then starts at the key frame at or before ``pre_seconds`` before the
trigger and runs until ``post_seconds`` after the last trigger.

A segment starts at a video key frame and is cut at the first key frame after
``record.segment_seconds``, or when the stream restarts (a reconnect may bring new
parameters). The key frame that cuts goes to the new segment, so consecutive segments
neither leave a gap nor repeat a frame. Segment times are the wall clock at the first
segment of a connection, then that plus the stream's own durations, so a jump of the wall
clock can't make segments overlap or run backwards; nor does a reconnect or a restart with
the clock set back, since no segment starts before the camera's last one ends (E416). A
step of the wall clock (seen by the manager, :meth:`Recorder.restamp`) places the next
segment by the clock again. A jump of the camera's own timestamps
cuts the segment (E413); an unexpected error is reported (E411) and recording goes on.

Longer than 400 lines because one thread's whole life is here, and its parts share its
state: routing (continuous and events mode), the cuts (length, parameters, reconnects,
timestamp jumps), closes that fail and are retried, the periodic fsync, and the recovery
from an unexpected error. Each part is a method of a few lines.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import av.error

from vigil.config import RecordConfig
from vigil.errors import DecodeError, StorageError
from vigil.media.clock import CLOCK_STEP, StreamClock
from vigil.media.failures import Failures
from vigil.media.heartbeat import Heartbeat
from vigil.media.hub import PacketHub
from vigil.media.packets import EndOfStream, MediaPacket, StreamInfo
from vigil.recording.closer import SegmentCloser
from vigil.recording.faststart import cut_to_whole_fragments
from vigil.recording.naming import segment_path
from vigil.recording.params import frame_size, parameter_sets
from vigil.recording.placement import first_frame_wall
from vigil.recording.prebuffer import PreBuffer
from vigil.recording.segment import (
    ClosedSegment,
    NewParameters,
    SegmentWriter,
    finalize,
    index_segment,
)
from vigil.recording.transcode import VideoTranscoder, target_codec
from vigil.storage.index import Index

# packets the recorder may fall behind, whatever the time (a bound on memory, for a camera
# that floods); the bound that matters is in time, record.queue_seconds
RECORDER_QUEUE = 1024
# seconds between the recorder's wake-ups: a thread woken less often runs warm (0.25 s cost
# 0.2 point of a core per camera more, 0.5 s no more than 0.75 s, docs/benchmarks.md); it
# must stay under record.queue_seconds, which with FRAGMENT_SECONDS bounds what a kill -9
# loses
BATCH_INTERVAL = 0.5
BEHIND_LOG_EVERY = 10.0  # seconds between two reports of packets dropped for being behind
# seconds between two video frames past which the camera's clock is taken to have jumped:
# no camera sends 5 s of nothing and then carries on in order
MAX_STEP = 5.0
# seconds without a packet after which the open segment is closed (a camera that dropped
# or stalled), so that its footage is in the index while the camera is away
QUIET_CLOSE = 3.0


def stagger(camera: str) -> float:
    """The share of ``record.segment_seconds`` a recording's first segment runs, from 0.5
    to 1, fixed by the camera's name. Cameras that start together (vigil's start, a network
    back) would otherwise cut together, for good: every segment's fsync, index write and
    GIL-held work at the same instant. At 36 cameras on two workers that burst held
    recorder threads past ``record.queue_seconds`` at each cut (docs/benchmarks.md)."""
    return 0.5 + 0.5 * zlib.crc32(camera.encode()) / 2**32


@dataclass(frozen=True, slots=True)
class RecordingContext:
    """Where recordings go: the storage root and the index; whom to call when disk is full."""

    root: Path
    index: Index
    on_disk_full: Callable[[], None] | None = None  # retention's "run now"
    wall: Callable[[], float] = time.time  # the wall clock segments are placed on


class Recorder(threading.Thread):
    """Continuous recording of one camera's record input."""

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        config: RecordConfig,
        context: RecordingContext,
        log: logging.Logger,
        clock: Callable[[], float] | None = None,
        failures: Failures | None = None,
    ):
        super().__init__(name=f"vigil-cam-{camera}-recorder", daemon=True)
        self.camera = camera
        self.config = config
        self.context = context
        self.log = log
        self.clock = clock or context.wall
        self.hub = hub
        self.subscription = hub.subscribe(
            "recorder", RECORDER_QUEUE, max_seconds=config.queue_seconds
        )
        self.heartbeat = Heartbeat()
        self.segments_written = 0
        self.failures = failures or Failures("recorder")  # the supervisor's, across restarts
        self._behind_seen = 0  # the subscription's drops already counted
        self._behind_logged = float("-inf")
        self.discontinuities = 0  # segments cut because the camera's timestamps jumped
        self._not_before = float("-inf")  # no segment starts before this: the last one's end
        self._restamp = False  # the wall clock was stepped: place the next segment anew
        self._synced = 0.0  # time.monotonic() of the last fdatasync of the open segment
        self.syncs = 0
        self.bytes_written = 0  # of the segments closed
        self.on_segment: Callable[[int], None] = lambda size: None  # bytes of each one closed
        self._writer: SegmentWriter | None = None
        self._length = config.segment_seconds * stagger(camera)  # the open segment's target
        self._cut_by_length = False  # the last segment ended at its length: the next runs full
        self._unfinished: list[SegmentWriter] = []  # closes that failed (disk full): retried
        # finalizes and indexes closed segments off this thread (recording/closer.py); the
        # closer's thread alone touches _unfinished
        self._closer = SegmentCloser(f"vigil-cam-{camera}-closer", self._close_error)
        self._info: StreamInfo | None = None
        self._next_start: float | None = None
        self._events: list[tuple[float, float]] = []  # (from, until), wall-clock
        self._events_lock = threading.Lock()
        self.event_mode = config.mode == "events"
        self.prebuffer = PreBuffer(config.pre_seconds)
        self._pending: float | None = None  # events mode: earliest trigger not yet recorded
        self._until = float("-inf")  # events mode: record packets up to this wall time
        self._params: bytes | None = None  # the parameter sets in force (Annex B)
        self._new_params: NewParameters | None = None  # set by an in-band change
        self._source: StreamInfo | None = None  # the record input's connection
        self._transcoder: VideoTranscoder | None = None  # when re-encoding
        self._last: MediaPacket | None = None  # the last source video packet
        self._clock = StreamClock()  # events mode: packets' wall times, free of read jitter
        self._batch: list[MediaPacket] = []  # the packets taken in the last drain
        self._connection: int | None = None  # the connection of its last packet
        self._heard = time.monotonic()  # when the last batch of packets came
        self._bases = (0.0, 0.0)  # the connection's (video, audio) time bases, in seconds

    def run(self) -> None:
        pending: list[MediaPacket] = []
        sub = self.subscription
        self._not_before = self._footage_end()
        while True:
            self.heartbeat.beat()
            if not pending:
                try:
                    pending = self._batch = sub.drain(timeout=1.0)
                except EndOfStream:
                    break
                if self._connects(pending) and not sub.wait_closed(BATCH_INTERVAL):
                    # a new connection's first packets come in a burst, once FFmpeg has
                    # probed the stream: take the rest, and what follows, to place its
                    # first segment by (recording/placement.py)
                    with contextlib.suppress(EndOfStream):
                        pending = self._batch = pending + sub.drain(timeout=0)
                if sub.dropped != self._behind_seen:
                    self._fell_behind(sub.dropped)
            done = 0
            try:
                for item in pending:
                    done += 1  # the packet it may fail on counts as taken
                    self._handle(item)
                self._quiet(pending)
            except Exception as err:  # never end recording for good: report, wait, go on
                pending = pending[done:]
                self._interrupted(err)
                continue
            pending = []
            self._sync()
            # Recording needs no low latency: let packets gather, then take them in one go
            # (at once if those queued meanwhile already waited a batch's time).
            if sub.span(time.monotonic()) < BATCH_INTERVAL:
                sub.wait_closed(BATCH_INTERVAL)
        try:
            self._end_connection()
            self._close()
        except Exception as err:
            self.failures.record(err, "E411", "recording stopped")
            self.log.exception("the last segment could not be closed (E411)")
        finally:
            self._closer.drain()  # every segment closed is indexed before the thread ends

    def _quiet(self, batch: list[MediaPacket]) -> None:
        """No packet for :data:`QUIET_CLOSE` seconds (the camera dropped, or stalled): close
        the open segment, so that its footage is indexed while the camera is away, not when
        it comes back. The next one is placed by its arrival."""
        now = time.monotonic()
        if batch:
            self._heard = now
        elif self._writer is not None and now - self._heard >= QUIET_CLOSE:
            self._close()
            self._next_start = None

    def _connects(self, batch: list[MediaPacket]) -> bool:
        """Whether `batch` starts a connection the recorder hasn't seen."""
        if not batch:
            return False
        seen, self._connection = self._connection, batch[-1].info.connection
        return batch[0].info.connection != seen

    def _footage_end(self) -> float:
        """Where the camera's indexed footage ends: no new segment starts before it, even
        with the wall clock set back meanwhile."""
        try:
            end = self.context.index.last_end(self.camera)
        except Exception as err:  # the first segment's index call meets it too
            self.log.warning("the index can't say where the footage ends: %s", err)
            return float("-inf")
        return float("-inf") if end is None else end

    def waits_for(self) -> threading.Thread | None:
        """The closer's thread while this one waits for it (the watchdog reports there)."""
        return self._closer.holding()

    def restamp(self) -> None:
        """The wall clock was stepped: the next segment is placed by the clock again, not
        after the open one (still never before the camera's last footage)."""
        self._restamp = True

    def _fell_behind(self, dropped: int) -> None:
        """Packets were dropped because the recorder was more than ``record.queue_seconds``
        behind: counted, and said (E415) at most every :data:`BEHIND_LOG_EVERY` seconds."""
        self.failures.dropped += dropped - self._behind_seen  # kept across a replacement
        self._behind_seen = dropped
        now = time.monotonic()
        if now - self._behind_logged < BEHIND_LOG_EVERY:
            return
        self._behind_logged = now
        error = StorageError(
            f"the recorder fell more than {self.config.queue_seconds:g} s behind the camera: "
            f"{self.failures.dropped} packets dropped so far, recording resumes at a key frame",
            code="E415",
        )
        self.log.warning("%s", error)

    def _sync(self) -> None:
        """Flush the open segment to disk every ``record.fsync_seconds``: what the kernel
        holds otherwise (up to ~30 s of writeback) is lost to a power cut."""
        writer, every = self._writer, self.config.fsync_seconds
        if writer is None or not every:
            return
        now = time.monotonic()
        if now - self._synced + BATCH_INTERVAL <= every:
            return  # the next batch still comes within the period
        self._synced = now
        try:
            writer.sync()
            self.syncs += 1
        except OSError as err:  # the next write meets it too, and is handled there
            self.log.warning("fdatasync of %s failed: %s", writer.partial_path.name, err.strerror)

    def _interrupted(self, err: Exception) -> None:
        """An error nobody expected: drop the open segment (its file stays for recovery if
        it can't be closed), wait, and go on at the next key frame with the packets queued."""
        error, delay = self.failures.record(err, "E411", "recording interrupted")
        self.log.error("%s; going on in %.0f s", error, delay, exc_info=err)
        self.heartbeat.rest(delay)
        writer, self._writer = self._writer, None
        if writer is not None:
            if writer.frames:
                self._not_before = writer.start + writer.duration
            self._closer.submit(partial(self._salvage, writer))
        self._source = None  # the next packet starts afresh: its transcoder, key frame
        self._transcoder = None
        self.subscription.wait_closed(delay)

    def _handle(self, item: MediaPacket) -> None:
        """One packet of the record input: recorded as is, or re-encoded first."""
        if item.info is not self._source:
            self._end_connection()
            self._source = item.info
            self._transcoder = self._new_transcoder(item.info)
        transcoder = self._transcoder
        if transcoder is None:
            self._route(item)
        elif item.is_video:
            self._last = item
            try:
                encoded = transcoder.feed(item)
            except DecodeError as err:
                self.log.error("%s", err)
                self._transcoder = None  # no encoder: nothing recorded until a reconnect
                self._source = None
                return
            for packet in encoded:
                self._route(packet)
        elif transcoder.info is not None:  # audio rides along with the encoded video
            self._route(MediaPacket(item.packet, transcoder.info, False, False, item.received))

    def _new_transcoder(self, info: StreamInfo) -> VideoTranscoder | None:
        codec = target_codec(self.config, info.codec)
        if codec is None:
            return None
        if self.config.codec == "copy":
            self.log.info("%s can't be recorded as is: encoding it to H.264", info.codec)
        return VideoTranscoder(info, codec, self.config, self.log)

    def _end_connection(self) -> None:
        """Write what the encoder still holds and let it go."""
        transcoder, self._transcoder = self._transcoder, None
        if transcoder is not None:
            for packet in transcoder.flush(self._last):
                self._route(packet)
            transcoder.close()
        self._last = None

    def _route(self, item: MediaPacket) -> None:
        """Continuous: write. Events: pre-buffer until a trigger, then write until done."""
        if item.info is not self._info:
            self._close()  # a new connection: maybe new parameters
            self._next_start = None
            self._cut_by_length = False  # its first segment is staggered
            self.prebuffer.clear()
            self._info = item.info
            self._params = self._new_params = None
            self._clock.reset()
            audio = item.info.audio
            self._bases = (
                float(item.info.video.time_base or 0),
                float(audio.time_base or 0) if audio is not None else 0.0,
            )
        if not self.event_mode:
            self._write(item)
            return
        at = self._wall_time(item)
        if self._writer is None:
            self.prebuffer.push(item, at)
            with self._events_lock:
                since, self._pending = self._pending, None
            if since is not None or at <= self._until:  # an event is on
                since = at if since is None else since
                self._next_start = None  # an event recording starts from the wall clock
                for old in self.prebuffer.take(since - self.config.pre_seconds):
                    self._write(old)
        elif at > self._until:
            self._close()  # post_seconds after the last trigger have passed
            self.prebuffer.push(item, at)
        else:
            self._write(item)

    def _wall_time(self, item: MediaPacket) -> float:
        """When a packet was live: its stream time on the connection's best anchor (the
        video packets', see :class:`StreamClock`); its arrival if it has no timestamp."""
        arrival = self.clock() - (time.monotonic() - item.received)
        dts = item.packet.dts
        if dts is None:
            return arrival
        if item.is_video:
            return self._clock.observe(arrival, dts * self._bases[0])
        wall = self._clock.wall(dts * self._bases[1])
        return arrival if wall is None else wall

    def _write(self, item: MediaPacket) -> None:
        starts = item.is_video and item.keyframe and item.packet.dts is not None
        if item.is_video and self._writer is not None:
            self._check_step(self._writer, item)
        if starts:
            changed = self._parameters_changed(item)
            full = self._writer is not None and self._writer.duration >= self._length
            if changed or full:
                self._close()
                self._cut_by_length = full and not changed
        try:
            if self._writer is None:
                if not starts:
                    return  # wait for a key frame
                self._open(item)
            assert self._writer is not None
            self._writer.write(item.packet, item.is_video)
        except (av.error.FFmpegError, OSError, ValueError) as err:
            self._failed(err)

    def _check_step(self, writer: SegmentWriter, item: MediaPacket) -> None:
        """A camera whose timestamps jump (back, or forward past :data:`MAX_STEP`) gets its
        segment cut there, said with E413: going back, its packets would be dropped as
        before the segment's start; going forward, one segment would span the jump. The
        next segment starts at the next key frame, at its arrival time."""
        step = writer.step(item.packet)
        if step is None or 0 < step <= MAX_STEP:
            return
        way = f"back {-step:.1f} s" if step <= 0 else f"forward {step:.1f} s"
        self.log.warning(
            "%s",
            DecodeError(f"the camera's timestamps jumped {way}: segment cut", code="E413"),
        )
        self.discontinuities += 1
        self._not_before = writer.start + writer.duration
        self._close()
        self._next_start = None  # the next segment is placed by its arrival, not the stream
        self._clock.reset()

    def _parameters_changed(self, item: MediaPacket) -> bool:
        """Whether this key frame brings parameter sets other than the segment's."""
        params = parameter_sets(bytes(item.packet), item.info.codec)
        if params is None or params == self._params:
            return False
        if self._params is None:
            self._params = params  # the connection's first in-band sets
            return False
        self._params = params
        size = frame_size(item.info.codec, params, bytes(item.packet))
        if size is None:
            self.log.warning("new in-band parameters that don't decode; segment cut anyway")
            self._new_params = None
        else:
            self._new_params = NewParameters(params, *size)
            self.log.info("new in-band parameters (%dx%d): segment cut", *size)
        return True

    def _failed(self, err: BaseException) -> None:
        """A write failed: close what we have; retry at the next key frame."""
        if getattr(err, "errno", None) == errno.ENOSPC:
            self.log.error(
                "%s", StorageError("disk full; recording pauses until space frees", code="E404")
            )
            if self.context.on_disk_full is not None:
                self.context.on_disk_full()
        else:
            reason = getattr(err, "strerror", None) or type(err).__name__
            self.log.error("%s", StorageError(f"segment write failed: {reason}", code="E402"))
        try:
            self._close()
        except (av.error.FFmpegError, OSError, ValueError):
            self._writer = None  # the partial file is left for recovery at the next start

    def _open(self, item: MediaPacket) -> None:
        # after a cut by length the next one runs full; after any other start, staggered
        share = 1.0 if self._cut_by_length else stagger(self.camera)
        self._length, self._cut_by_length = self.config.segment_seconds * share, False
        if self._restamp:
            self._restamp = False
            self._next_start = None
            self._clock.reset()
        if self._next_start is None:
            seen = self._clock.wall(item.packet.dts * self._bases[0])  # events mode
            arrival = self.clock() - (time.monotonic() - item.received)
            if seen is None:  # continuous mode: by the least delayed of the batch
                seen = first_frame_wall(item, self._batch, self._bases[0], arrival, MAX_STEP)
            placed = seen
            if placed < self._not_before - CLOCK_STEP:
                behind = self._not_before - placed
                error = StorageError(
                    f"the wall clock is {behind:.1f} s behind this camera's footage: the "
                    "segment starts where the last one ends, so none overlaps",
                    code="E416",
                )
                self.log.warning("%s", error)
            self._next_start = max(placed, self._not_before)  # never over the last one
        start = self._next_start
        path = segment_path(self.context.root, self.camera, start)
        self._writer = SegmentWriter(
            path,
            start,
            item.info.video,
            item.info.audio,
            self._new_params,
            seconds=self.config.segment_seconds,
        )

    def _close(self) -> None:
        """End the open segment: finish its file here, and finalize and index it on the
        closer's thread. The next segment starts where this one ends, whether or not its
        close then succeeds: no overlap."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if writer.frames:
            self._next_start = self._not_before = writer.start + writer.duration
        try:
            held = writer.finish()
        except (av.error.FFmpegError, OSError) as err:
            self._closer.submit(partial(self._close_failed, writer, err))
            return
        if held:
            self._closer.submit(partial(self._finalize, writer))

    def _finalize(self, writer: SegmentWriter) -> None:
        """On the closer's thread: the fast-start segment, into the index."""
        try:
            segment = writer.finalize()
        except (av.error.FFmpegError, OSError) as err:
            self._close_failed(writer, err)
            return
        self._index(segment)
        self._retry_unfinished()

    def _salvage(self, writer: SegmentWriter) -> None:
        """On the closer's thread: close a segment that an unexpected error cut short."""
        try:
            segment = writer.close()
            if segment is not None:
                self._index(segment)
        except Exception:  # left on disk whole or partial: the next start recovers it
            self.log.warning("segment %s left for recovery", writer.final_path.name)

    def _close_error(self, err: Exception) -> None:
        """On the closer's thread: a close raised what nobody expected (the index refused
        the row...). Reported and counted as an interruption (E411); the file stays on disk,
        and the next start indexes it."""
        error, _ = self.failures.record(err, "E411", "segment not indexed")
        self.log.error("%s; its file is indexed at the next start", error, exc_info=err)

    def _close_failed(self, writer: SegmentWriter, err: BaseException) -> None:
        """On the closer's thread: finishing or finalizing failed; its fragmented file,
        whole, stays on disk. On a full disk, retention runs and the next close tries
        again; otherwise the next start recovers it."""
        if getattr(err, "errno", None) == errno.ENOSPC:
            self.log.error(
                "%s",
                StorageError(
                    f"disk full closing segment {writer.final_path.name}; retried at the next "
                    "close",
                    code="E404",
                ),
            )
            if writer.partial_path.exists():
                self._unfinished.append(writer)
            if self.context.on_disk_full is not None:
                self.context.on_disk_full()
            return
        reason = getattr(err, "strerror", None) or type(err).__name__
        self.log.error("%s", StorageError(f"segment close failed: {reason}", code="E402"))

    def _retry_unfinished(self) -> None:
        """Finalize and index the segments whose close found the disk full."""
        while self._unfinished:
            writer = self._unfinished[0]
            partial = writer.partial_path
            try:
                if not cut_to_whole_fragments(partial):  # the refused write's part is cut
                    partial.unlink(missing_ok=True)
                    self._unfinished.pop(0)
                    continue
                segment = finalize(partial, writer.final_path, writer.start)
            except (av.error.FFmpegError, OSError):
                return  # still no room: the next close tries again
            self._unfinished.pop(0)
            self._index(segment)

    def trigger(self, at: float) -> tuple[float, float]:
        """An event at wall time `at`: footage from pre_seconds before to post_seconds after
        it holds an event. In continuous mode, segments already closed are marked now and
        later ones as they close; in events mode this (re)starts the recording.
        """
        window = (at - self.config.pre_seconds, at + self.config.post_seconds)
        with self._events_lock:
            self._events.append(window)
            if self.event_mode:
                self._until = max(self._until, window[1])
                if self._pending is None or at < self._pending:
                    self._pending = at
        self.context.index.mark_event(self.camera, *window)
        return window

    def _touches_event(self, start: float, end: float) -> bool:
        with self._events_lock:
            now = self.clock()
            self._events = [w for w in self._events if w[1] > now - 3600]
            return any(a < end and start < b for a, b in self._events)

    def _index(self, segment: ClosedSegment) -> None:
        end = segment.start + segment.duration
        event = self.event_mode or self._touches_event(segment.start, end)
        index_segment(self.context.index, self.context.root, self.camera, segment, event)
        self.segments_written += 1
        self.bytes_written += segment.bytes
        self.on_segment(segment.bytes)
        self.log.info(
            "segment %s: %.1f s, %d bytes", segment.path.name, segment.duration, segment.bytes
        )
