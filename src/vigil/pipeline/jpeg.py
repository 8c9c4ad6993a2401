"""JPEG encoding of frames with FFmpeg's mjpeg encoder (no OpenCV, no Pillow)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

JPEG_QUALITY = 5  # mjpeg's qscale: 2 (best) to 31; 5 is a good thumbnail


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
