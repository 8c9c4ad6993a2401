"""Decoding for detection: compressed packets in, small gray frames out, as cheaply as it goes.

Decoding can be cut for camera streams (no B-frames, so every P-frame is a reference) only
by not decoding P-frames at all (key frames only) and by skipping the loop filter. So:

- the decoder is opened through :func:`~vigil.sources.hwaccel.open_decoder`, so the
  camera's ``hwaccel`` is tried and software is the fallback;
- the decoder runs with ``thread_count=1`` on the caller's thread (the camera's detect
  thread), where its CPU is counted, and with ``skip_loop_filter`` (harmless for motion);
- ``fps`` only limits how many decoded frames are *processed*: a frame that is not due is
  dropped before it is scaled, which saves the scaling, not the decoding;
- in key-frames-only mode P-frames are not even handed to the decoder. They are kept from
  the last key frame on, so that :meth:`DetectDecoder.full_rate` can decode them to catch
  up the moment full rate is wanted again (the first motion after an idle spell);
- scaling to ``width`` and to gray is one swscale call, with no BGR round trip, through
  one :class:`~av.video.reformatter.VideoReformatter` per decoder: ``frame.reformat`` builds
  a new swscale context every call, which cost 3x the scaling itself (456 against 159 µs
  a 640x360 frame), and AREA averaging, the right filter for a large downscale (a 1080p
  frame in 387 µs, against 644 with the default bicubic).

The counters (:class:`DecodeCounts`) tell decoded from processed frames per mode, so that
every saving can be checked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from vigil.sources.hwaccel import HwaccelChoice, open_decoder

MAX_CATCH_UP = 600  # packets kept since the last key frame in key-frames-only mode


@dataclass(frozen=True, slots=True)
class DetectFrame:
    """One frame for detection: gray, ``width`` wide, at stream time `at` (seconds)."""

    gray: npt.NDArray[np.uint8]
    at: float
    keyframe: bool


@dataclass(slots=True)
class DecodeCounts:
    """What the decoder did, by mode."""

    decoded: int = 0  # frames out of the decoder, any mode
    decoded_keyframes_only: int = 0  # ... of which while in key-frames-only mode
    processed: int = 0  # frames scaled and handed on
    skipped_packets: int = 0  # P-frames never decoded (key-frames-only mode)
    errors: int = 0  # packets the decoder refused
    by_mode: dict[str, int] = field(default_factory=dict)  # processed frames per mode


class DetectDecoder:
    """Decodes one input's video into small gray frames; one per input, one thread."""

    def __init__(
        self,
        video: Any,
        width: int,
        fps: float | None,
        *,
        hwaccel: HwaccelChoice = "none",
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ):
        source = video.codec_context
        self._ctx: Any
        self._ctx, self.method = open_decoder(
            source.name,
            hwaccel,
            thread_count=1,
            options={"skip_loop_filter": "all"},
            extradata=source.extradata or None,
            **({"log": log} if log is not None else {}),
        )
        self._base = float(video.time_base or 0)
        aspect = (source.height / source.width) if source.width and source.height else 9 / 16
        self.width = width // 2 * 2
        self.height = max(2, round(self.width * aspect / 2) * 2)
        self.interval = 1.0 / fps if fps else 0.0  # seconds between processed frames
        self.keyframes_only = False
        self.counts = DecodeCounts()
        self._scaler = VideoReformatter()
        self._next_due: float | None = None
        self._last_at: float | None = None
        self._since_key: list[Any] = []  # key-frames-only mode: packets from the last key
        # live view: every decoded frame goes to `tap` while set (the camera's live feed,
        # when its live input is this one); `last` keeps the last processed frame in colour,
        # with its time.monotonic(), for snapshots (a reference, no copy)
        self.tap: Callable[[av.VideoFrame], None] | None = None
        self.last: tuple[av.VideoFrame, float] | None = None

    def set_fps(self, fps: float | None) -> None:
        """Process at most `fps` frames a second (None: every decoded frame)."""
        self.interval = 1.0 / fps if fps else 0.0

    def keyframes(self) -> None:
        """Decode key frames only from now on."""
        self.keyframes_only = True
        self._since_key = []

    def full_rate(self) -> Iterator[DetectFrame]:
        """Decode every frame again, first catching up on the P-frames since the last key
        frame (which were kept, not decoded); yields the frames that catching up makes due."""
        self.keyframes_only = False
        kept, self._since_key = self._since_key, []
        for packet in kept[1:]:  # the key frame itself was decoded when it came
            yield from self._decode(packet, False)

    def feed(self, packet: Any) -> Iterator[DetectFrame]:
        """The frames due for processing (maybe none) out of one video packet."""
        if self.keyframes_only:
            if packet.is_keyframe:
                self._since_key = [packet]
            elif self._since_key and len(self._since_key) < MAX_CATCH_UP:
                self._since_key.append(packet)
                self.counts.skipped_packets += 1
                return
            else:
                self.counts.skipped_packets += 1
                return
        yield from self._decode(packet, self.keyframes_only)

    def _decode(self, packet: Any, keyframes_only: bool) -> Iterator[DetectFrame]:
        try:
            frames = self._ctx.decode(packet)
        except av.error.FFmpegError:
            self.counts.errors += 1  # a damaged packet: the decoder resyncs at a key frame
            return
        for frame in frames:
            self.counts.decoded += 1
            if keyframes_only:
                self.counts.decoded_keyframes_only += 1
            pts = frame.pts if frame.pts is not None else packet.dts
            at = (pts or 0) * self._base
            if self._next_due is not None and self._last_at is not None and at < self._last_at:
                self._next_due = None  # timestamps went back (a new connection, a jump)
            self._last_at = at
            tap = self.tap
            if tap is not None:
                tap(frame)
            if self._next_due is not None and at < self._next_due:
                continue  # not due: dropped before scaling
            # due again one interval on, less a tenth of it for timestamp jitter
            self._next_due = at + self.interval * 0.9 if self.interval else None
            small = self._scaler.reformat(
                frame, self.width, self.height, "gray", interpolation="AREA"
            )
            gray = cast("npt.NDArray[np.uint8]", small.to_ndarray())
            self.last = (frame, time.monotonic())
            self.counts.processed += 1
            mode = "keyframes" if keyframes_only else "full"
            self.counts.by_mode[mode] = self.counts.by_mode.get(mode, 0) + 1
            yield DetectFrame(gray, at, bool(frame.key_frame))
