"""The frame ring: a camera's recent detection frames, in RAM, for consumers in this process.

A ``deque(maxlen=N)`` of the last frames with their times, plus the latest one in a slot
of its own. It feeds event thumbnails and snapshots. It is written by one thread (the
camera's detect thread) and read by any: ``deque.append`` and the slot's assignment are
atomic under the GIL, and frames are never changed once pushed, so readers take no lock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RING_FRAMES = 25  # five seconds at the default 5 fps


@dataclass(frozen=True, slots=True)
class RingFrame:
    """One detection frame: gray pixels, stream time, wall time (None before the clock)."""

    gray: npt.NDArray[np.uint8]
    at: float
    wall: float | None
    seq: int


class FrameRing:
    """The last `maxlen` frames of one camera, oldest first."""

    def __init__(self, maxlen: int = RING_FRAMES):
        self._frames: deque[RingFrame] = deque(maxlen=maxlen)
        self.latest: RingFrame | None = None
        self._seq = 0

    def push(self, gray: npt.NDArray[np.uint8], at: float, wall: float | None) -> RingFrame:
        self._seq += 1
        frame = RingFrame(gray, at, wall, self._seq)
        self._frames.append(frame)
        self.latest = frame
        return frame

    def frames(self) -> list[RingFrame]:
        """A copy of the ring, oldest first."""
        return list(self._frames)

    def nearest(self, at: float) -> RingFrame | None:
        """The frame closest in stream time to `at`, if any."""
        frames = self.frames()
        return min(frames, key=lambda f: abs(f.at - at)) if frames else None

    def __len__(self) -> int:
        return len(self._frames)
