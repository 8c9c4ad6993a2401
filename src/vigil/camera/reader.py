"""What runs in an input's reader thread: open, demux, publish, and reconnect with backoff.

One :class:`InputReader` thread per input and per start. It owns its PyAV container. It
writes to the input only while its token is current (see :class:`~vigil.media.hub.PacketHub`),
so a thread abandoned while blocked in a connect can't touch a restarted camera. What it
needs of the input is the :class:`ReaderInput` shape (:class:`~vigil.camera.input.CameraInput`
has it), so this module imports nothing of the input's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import av
import av.error

from vigil.camera.state import State
from vigil.const import BACKOFF_RESET_AFTER, PART_STALL
from vigil.errors import VigilError
from vigil.media.clock import Clock
from vigil.media.packets import MediaPacket, StreamInfo
from vigil.sources.classify import (
    classify_open_error,
    classify_read_error,
    no_video,
    refused_resolution_error,
)
from vigil.sources.network import Network, refused_resolution
from vigil.sources.options import OpenArgs, open_args
from vigil.sources.url import SourceSpec

# FFmpeg errors, plus the OS errors a socket or file may raise.
_READ_ERRORS = (av.error.FFmpegError, OSError, EOFError)


@dataclass(frozen=True, slots=True)
class Timing:
    """Timeouts of an input, in seconds."""

    open_timeout: float
    stall: float
    reset_after: float = BACKOFF_RESET_AFTER
    part_stall: float = PART_STALL  # a recorder, detector or live decoder stuck this long


class ReaderInput(Protocol):
    """The input a reader thread reads for, as the thread sees it. Every call carries the
    thread's token; one that returns False (or is ignored) means the token is stale."""

    camera: str
    label: str
    spec: SourceSpec
    log: logging.Logger
    clock: Clock  # of the backoff: its waits, and what counts as a healthy spell
    networks: tuple[Network, ...]  # server.camera_networks: what a host may resolve to

    def retry_delay(self, attempt: int, error: VigilError) -> float | None: ...

    def streamed(self) -> float:
        """Seconds the session that just ended streamed (0 if it never did)."""
        ...

    def report_error(self, token: object, error: VigilError, delay: float | None) -> bool: ...

    def set_state(self, token: object, state: State) -> None: ...

    def connected(self, token: object, info: StreamInfo) -> bool: ...

    def publish(self, token: object, item: MediaPacket) -> bool: ...


class InputReader(threading.Thread):
    """The reader thread of one input."""

    def __init__(self, source: ReaderInput, token: object, timing: Timing):
        super().__init__(name=f"vigil-cam-{source.camera}-{source.label}", daemon=True)
        self.source = source
        self.token = token
        self.timing = timing
        self.stop_event = threading.Event()
        self.log = source.log
        self._connection = 0

    def run(self) -> None:
        attempt = 0
        clock = self.source.clock
        while not self.stop_event.is_set():
            started = clock.now()
            error = self._session()
            if self.stop_event.is_set() or error is None:
                break
            if clock.now() - started >= self.timing.reset_after:
                attempt = 0
            delay = self.source.retry_delay(attempt, error)
            if attempt and delay is not None and self.source.streamed() >= delay:
                # it streamed for longer than it would now wait: a camera that drops every
                # few seconds is retried at once each time, not every 30 s
                attempt = 0
                delay = self.source.retry_delay(attempt, error)
            if not self.source.report_error(self.token, error, delay):
                break
            if delay is None:
                return
            attempt += 1
            clock.wait(self.stop_event, delay)
        self.source.set_state(self.token, State.STOPPED)

    def _session(self) -> VigilError | None:
        """One connection: open and read until it fails. Returns the error, None on stop."""
        spec = self.source.spec
        if spec.host:  # a name is judged by what it resolves to now, as FFmpeg will reach it
            refused = refused_resolution(spec.host, self.source.networks)
            if refused is not None:
                return refused_resolution_error(spec, refused)
        args = open_args(spec, self.timing.open_timeout, self.timing.stall)
        t0 = time.monotonic()
        try:
            container = av.open(
                args.target,
                format=args.format,
                options=args.options,
                timeout=args.timeout,
                metadata_errors="replace",  # a camera's (or garbage's) non-UTF-8 tags
            )
        except _READ_ERRORS as err:
            limit = min(self.timing.open_timeout, self.timing.stall)
            return classify_open_error(err, spec, time.monotonic() - t0, limit)
        try:
            if not container.streams.video:
                return no_video(spec)
            return self._read(container, args)
        except _READ_ERRORS as err:
            return classify_read_error(err, spec)
        finally:
            retire(container)

    def _read(self, container: Any, args: OpenArgs) -> VigilError | None:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        self._connection += 1
        rate = video.average_rate or video.guessed_rate
        info = StreamInfo(
            connection=self._connection,
            codec=video.codec_context.name,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=float(rate) if rate else None,
            video=video,
            audio=audio,
        )
        streams = [s for s in (video, audio) if s is not None]
        packets = _looped(container, streams) if args.paced else container.demux(streams)
        if args.paced:
            packets = _paced(packets, video, self.stop_event)
        if not self.source.connected(self.token, info):
            return None
        for packet in packets:
            if self.stop_event.is_set():
                return None
            if packet.size == 0:
                continue
            is_video = packet.stream is video
            item = MediaPacket(packet, info, is_video, packet.is_keyframe, time.monotonic())
            if not self.source.publish(self.token, item):
                return None
        if self.stop_event.is_set():
            return None
        return classify_read_error(EOFError("end of stream"), self.source.spec)


def _looped(container: Any, streams: list[Any]) -> Iterator[Any]:
    """Demux a file forever, like a camera: at its end, seek back with timestamps continuing."""
    offsets = {s.index: 0 for s in streams}
    ends = dict(offsets)
    while True:
        count = 0
        for packet in container.demux(streams):
            if packet.size == 0 or packet.pts is None:
                continue
            shift = offsets[packet.stream.index]
            packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            ends[packet.stream.index] = max(
                ends[packet.stream.index], packet.pts + (packet.duration or 0)
            )
            count += 1
            yield packet
        if count == 0:
            return
        offsets = dict(ends)
        container.seek(0, any_frame=False)


def _paced(packets: Iterator[Any], video: Any, stop: threading.Event) -> Iterator[Any]:
    """Release packets at the pace of their video timestamps."""
    start_wall: float | None = None
    start_pts = 0
    base = float(video.time_base)
    for packet in packets:
        if packet.stream is video and packet.pts is not None:
            if start_wall is None:
                start_wall, start_pts = time.monotonic(), packet.pts
            due = start_wall + (packet.pts - start_pts) * base
            delay = due - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
        yield packet


RETIRE_AFTER = 10.0  # seconds a finished connection's container stays open (see retire)


def retire(container: Any) -> None:
    """Close a finished connection's container, but only :data:`RETIRE_AFTER` seconds on.

    Its streams live on in the ``StreamInfo`` of packets still queued for consumers, and
    the recorder opens segments from them (``add_stream_from_template``): closing the
    container at once freed what a recorder draining its queue at a stop or reconnect
    then read, and crashed the process (a segfault in ``av.open``, seen in tests). The
    consumers move to the new connection, or end, within that time.
    """
    timer = threading.Timer(RETIRE_AFTER, _close, (container,))
    timer.daemon = True
    timer.name = "vigil-retire"
    timer.start()


def _close(container: Any) -> None:
    with contextlib.suppress(Exception):  # a finished connection: nothing left to report
        container.close()
