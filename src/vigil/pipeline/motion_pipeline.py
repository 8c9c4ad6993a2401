"""Detection on one video stream, without threads or clocks: packets in, motion updates out.

:class:`MotionPipeline` joins the decoder and the motion detector and decides what to
decode: the governor's level and **adaptive idle decoding**.

- After ``detect.idle_keyframes_after_seconds`` of stream time without motion (counted from
  the last motion, not from the end of its event), only key frames are decoded. The first
  key frame that shows a change makes the decoder catch up on the P-frames kept since that
  key frame, then stay at full rate. Detection is then late by at most one GOP (plus
  processing); the recording's pre-buffer keeps the footage.
- While the input is watched live (the decoder has a tap), it is not idle: live view needs
  every frame. The governor's key-frames level still applies.
- Levels (set by the governor through the camera's detect thread): 0 as configured; 1 half
  the processing rate; 2 key frames only, with no catching up; 3 is level 1 on the camera's
  lower-resolution input (the detect thread switches the input).

The detect thread feeds it live packets; tests and ``vigil bench`` feed it files, as fast as
they decode, so that minutes of scene cost seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from vigil.config import DetectConfig
from vigil.pipeline.detect_decoder import DetectDecoder, DetectFrame
from vigil.pipeline.motion import MotionDetector, MotionUpdate
from vigil.sources.hwaccel import HwaccelChoice

KEYFRAMES_LEVEL = 2

Job = Callable[[], MotionUpdate]
Runner = Callable[[Job], MotionUpdate]


def run_here(job: Job) -> MotionUpdate:
    return job()


class MotionPipeline:
    """Decoder + motion detector of one stream (one connection)."""

    def __init__(
        self,
        video: Any,
        config: DetectConfig,
        motion: MotionDetector,
        *,
        hwaccel: HwaccelChoice = "none",
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        run: Runner = run_here,
    ):
        self.config = config
        rate = video.average_rate or video.guessed_rate
        self.source_fps = float(rate) if rate else None
        self.decoder = DetectDecoder(video, config.width, self.rate(0), hwaccel=hwaccel, log=log)
        self.motion = motion
        self.run = run
        self.log = log
        self.level = 0
        self.idle_switches = 0  # times it went to key frames only for want of motion
        self.catch_ups = 0  # times motion brought it back to full rate
        self._last_motion: float | None = None  # stream time of the last motion (or start)

    @property
    def watched(self) -> bool:
        """Someone watches this input live (MJPEG): no idle decoding meanwhile."""
        return self.decoder.tap is not None

    @property
    def mode(self) -> str:
        return "keyframes" if self.decoder.keyframes_only else "full"

    def rate(self, level: int) -> float:
        """Frames processed a second at `level`: ``detect.fps`` (halved at levels 1 and 3),
        and never more than every 2nd frame of the source (the seed plan's rule)."""
        fps = self.config.fps / 2 if level in (1, 3) else self.config.fps
        return min(fps, self.source_fps / 2) if self.source_fps else fps

    def set_level(self, level: int) -> None:
        self.level = level
        self.decoder.set_fps(self.rate(level))
        if level == KEYFRAMES_LEVEL:
            self.decoder.keyframes()

    def feed(self, packet: Any) -> Iterator[tuple[DetectFrame, MotionUpdate]]:
        """Each frame processed out of one video packet (maybe none), with its update."""
        if (
            self.level != KEYFRAMES_LEVEL
            and self.decoder.keyframes_only
            and (self.config.idle_keyframes_after_seconds is None or self.watched)
        ):
            yield from self._catch_up()  # the governor stepped back up, or a live viewer came
        for frame in self.decoder.feed(packet):
            yield from self._frame(frame)

    def _catch_up(self) -> Iterator[tuple[DetectFrame, MotionUpdate]]:
        for frame in self.decoder.full_rate():
            yield from self._frame(frame)

    def _frame(self, frame: DetectFrame) -> Iterator[tuple[DetectFrame, MotionUpdate]]:
        update = self.run(lambda: self.motion.process(frame.gray, frame.at))
        yield frame, update
        if self._last_motion is None or update.moving:
            # idle time counts from the last motion (or the first frame), not from the end of
            # the event: an event still open when decoding goes idle goes on on key frames,
            # and a change seen on one brings full rate back
            self._last_motion = frame.at
        decoder = self.decoder
        if decoder.keyframes_only:
            if update.hit and self.level != KEYFRAMES_LEVEL:
                self.catch_ups += 1
                yield from self._catch_up()  # this GOP's frames: the motion gets them all
            return
        idle_after = self.config.idle_keyframes_after_seconds
        if self.watched:
            self._last_motion = frame.at  # live view wants every frame: idle waits for its end
        elif idle_after is not None and frame.at - self._last_motion >= idle_after:
            decoder.keyframes()
            self.idle_switches += 1
            if self.log is not None:
                self.log.debug("no motion for %.0f s: decoding key frames only", idle_after)
