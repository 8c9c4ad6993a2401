"""JPEG encoding of frames with FFmpeg's mjpeg encoder (no OpenCV, no Pillow)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt

JPEG_QUALITY = 5  # mjpeg's qscale: 2 (best) to 31; 5 is a good thumbnail


class JpegEncoder:
    """Encodes frames of one size with one reused mjpeg context (no context per frame)."""

    def __init__(self, qscale: int = JPEG_QUALITY):
        self.qscale = qscale
        self._ctx: Any = None
        self._size = (0, 0)
        self._pts = 0

    def encode(self, frame: av.VideoFrame) -> bytes:
        """`frame` (yuvj420p, even sizes) as a baseline JPEG."""
        if self._ctx is None or self._size != (frame.width, frame.height):
            ctx = av.CodecContext.create("mjpeg", "w")
            ctx.width, ctx.height = frame.width, frame.height
            ctx.pix_fmt = "yuvj420p"
            ctx.time_base = Fraction(1, 1000)
            ctx.options = {"qmin": str(self.qscale), "qmax": str(self.qscale)}
            self._ctx, self._size = ctx, (frame.width, frame.height)
        self._pts += 1
        frame.time_base = self._ctx.time_base  # else PyAV rescales pts, and equal pts fail
        frame.pts = self._pts
        return b"".join(bytes(p) for p in self._ctx.encode(frame))


def encode_gray(gray: npt.NDArray[np.uint8], qscale: int = JPEG_QUALITY) -> bytes:
    """One gray frame (height x width, even sizes) as a baseline JPEG."""
    height, width = gray.shape
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuvj420p"
    ctx.time_base = Fraction(1, 25)
    ctx.options = {"qmin": str(qscale), "qmax": str(qscale)}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(gray), format="gray")
    frame = frame.reformat(format="yuvj420p")
    frame.pts = 0
    packets = ctx.encode(frame) + ctx.encode(None)
    return b"".join(bytes(p) for p in packets)
