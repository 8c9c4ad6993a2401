"""Motion detection on small gray frames, with numpy.

Per frame (``detect.width`` wide, 320 by default, gray, so about 58 k pixels):

1. The frame is halved by averaging 2x2 blocks, which halves sensor noise, so a pixel
   threshold of 25 is six standard deviations of a typical noisy sensor, and a still scene
   raises no event.
2. Pixels that differ from a running-average background by more than ``threshold`` have
   changed. The background follows the scene slowly (:data:`BACKGROUND_RATE` a frame), and
   faster where a pixel holds still from one frame to the next (:data:`STILL_RATE`), so a
   parked car, a light switched on, or the ghost an object leaves where it stood becomes
   background within a second or two, while a moving object stays foreground.
3. Changed pixels count inside the region that is watched: the ``zones`` (every one, if
   none is given, the whole frame) less the ``masks``. A zone is hit when at least
   ``min_area`` of the frame changed inside it.
4. Motion is the hit of :data:`DEBOUNCE_FRAMES` frames in a row, so a single odd frame (a
   decoding glitch, an insect) is not. An event starts at the first of them and ends once
   ``event_gap_seconds`` pass without motion; it keeps its peak area, the zones it touched and
   the frame at its peak, for a thumbnail.

Zone and mask polygons are in fractions of the frame (0-1), so they survive a change of
detection width; they are rasterised once per frame size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from vigil.config import MotionConfig

BACKGROUND_RATE = 0.05  # weight of each new frame in the background (a few seconds at 5 fps)
STILL_RATE = 0.2  # ... where the pixel did not change since the previous frame
DEBOUNCE_FRAMES = 2  # frames in a row with motion before it counts
WHOLE_FRAME = "all"  # the zone name reported when no zones are configured

Gray = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class MotionEvent:
    """One stretch of motion: times are those of the frames given to the detector."""

    start: float
    end: float
    peak_area: float  # the largest changed fraction of the frame seen
    zones: set[str] = field(default_factory=set)
    peak_frame: Gray | None = None  # the detection frame at the peak, for a thumbnail


@dataclass(frozen=True, slots=True)
class MotionUpdate:
    """What one frame did: its changed fraction, and any event that started or ended."""

    area: float
    moving: bool  # motion, debounced
    hit: bool = False  # this frame alone changed enough (before debouncing)
    started: MotionEvent | None = None
    ended: MotionEvent | None = None


def polygon_mask(points: Sequence[tuple[float, float]], width: int, height: int) -> Mask:
    """Pixels whose centres lie inside a polygon given in fractions of the frame."""
    ys, xs = np.mgrid[0:height, 0:width]
    px = (xs + 0.5) / width
    py = (ys + 0.5) / height
    inside = np.zeros((height, width), dtype=bool)
    corners = list(points)
    for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
        if y1 == y2:
            continue  # a horizontal edge crosses no horizontal ray
        crosses = (py >= min(y1, y2)) & (py < max(y1, y2))
        x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (px < x_at)  # even-odd rule
    return inside


class MotionDetector:
    """Finds motion in a camera's detection frames; not thread-safe (one per camera)."""

    def __init__(self, config: MotionConfig):
        self.config = config
        self._background: npt.NDArray[np.float32] | None = None
        self._previous: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._zones: list[tuple[str, Mask]] = []
        self._size: tuple[int, int] | None = None
        self._streak = 0
        self._streak_start = 0.0  # the time of the streak's first frame
        self._event: MotionEvent | None = None
        self._last_motion = 0.0
        self.frames = 0

    @property
    def event(self) -> MotionEvent | None:
        """The event under way, if any."""
        return self._event

    def process(self, frame: Gray, at: float) -> MotionUpdate:
        """Take one gray frame (height x width, uint8) shown at `at` seconds."""
        small = _halve(frame)
        self.frames += 1
        if self._background is None or self._size != small.shape:
            self._reset(small)
            return self._idle(at, 0.0)
        assert self._background is not None
        previous, self._previous = self._previous, small
        difference = small - self._background
        changed = np.abs(difference) > self.config.threshold
        # Pixels that did not change since the last frame follow the scene faster: a ghost
        # (the background revealed where an object stood) fades in about a second instead
        # of five, and an event ends when the motion does.
        rate = small - previous
        np.abs(rate, out=rate)
        still = rate <= self.config.threshold
        np.multiply(still, STILL_RATE - BACKGROUND_RATE, out=rate)
        rate += BACKGROUND_RATE
        difference *= rate
        self._background += difference
        pixels = changed.size
        needed = self.config.min_area * pixels
        hits = {name: int(np.count_nonzero(changed & zone)) for name, zone in self._zones}
        area = max(hits.values(), default=0) / pixels
        zones = {name for name, count in hits.items() if count >= needed}
        self._streak = self._streak + 1 if zones else 0
        if self._streak == 1:
            self._streak_start = at
        if self._streak < DEBOUNCE_FRAMES:
            return self._idle(at, area, bool(zones))
        return self._moving(at, area, zones, frame)

    def _reset(self, small: npt.NDArray[np.float32]) -> None:
        """A first frame, or a new size: start the background and the regions afresh."""
        self._background = small.copy()
        self._previous = small
        self._size = (small.shape[0], small.shape[1])
        height, width = self._size
        ignored = np.zeros((height, width), dtype=bool)
        for mask in self.config.masks:
            ignored |= polygon_mask(mask, width, height)
        zones = [(z.name, polygon_mask(z.points, width, height)) for z in self.config.zones]
        if not zones:
            zones = [(WHOLE_FRAME, np.ones((height, width), dtype=bool))]
        self._zones = [(name, zone & ~ignored) for name, zone in zones]
        self._streak = 0

    def _moving(self, at: float, area: float, zones: set[str], frame: Gray) -> MotionUpdate:
        started = None
        if self._event is None:
            # the event began with the first frame of the streak
            start = self._streak_start
            self._event = started = MotionEvent(start=start, end=at, peak_area=0.0)
        event = self._event
        event.end = self._last_motion = at
        event.zones |= zones
        if area > event.peak_area:
            event.peak_area = area
            event.peak_frame = frame.copy()
        return MotionUpdate(area, True, True, started=started)

    def _idle(self, at: float, area: float, hit: bool = False) -> MotionUpdate:
        event = self._event
        if event is not None and at - self._last_motion >= self.config.event_gap_seconds:
            self._event = None
            return MotionUpdate(area, False, hit, ended=event)
        return MotionUpdate(area, False, hit)

    def finish(self) -> MotionEvent | None:
        """End the event under way (the camera stops); it ends at its last motion."""
        event, self._event = self._event, None
        return event


def _halve(frame: Gray) -> npt.NDArray[np.float32]:
    """The mean of each 2x2 block, as float32 (an odd last row or column is dropped)."""
    height, width = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    even = frame[:height, :width]
    halved: npt.NDArray[np.float32] = even[0::2, 0::2].astype(np.float32)
    halved += even[1::2, 0::2]
    halved += even[0::2, 1::2]
    halved += even[1::2, 1::2]
    halved *= 0.25
    return halved
