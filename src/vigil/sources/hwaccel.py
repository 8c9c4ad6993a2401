"""Hardware-accelerated decoding: try what the config asks for, fall back to software.

The PyAV wheel offers CUDA (NVDEC), and ``h264_v4l2m2m``/``hevc_v4l2m2m`` decoders where the
machine has a V4L2 M2M device (a Raspberry Pi). Opening one on a machine without it raises
(``HWAccel('cuda')`` gives PermissionError once the codec opens), which is caught here.
"""

from __future__ import annotations

import logging
from typing import Literal

import av
from av.codec.context import CodecContext
from av.codec.hwaccel import HWAccel

from vigil.errors import DecodeError

HwaccelChoice = Literal["auto", "none", "cuda", "v4l2m2m"]
AUTO_ORDER: tuple[str, ...] = ("cuda", "v4l2m2m")

_log = logging.getLogger(__name__)


def _open_hw(codec_name: str, method: str, thread_count: int) -> CodecContext:
    if method == "cuda":
        ctx = CodecContext.create(
            codec_name, "r", hwaccel=HWAccel("cuda", allow_software_fallback=False)
        )
    elif method == "v4l2m2m":
        ctx = CodecContext.create(f"{codec_name}_v4l2m2m", "r")
    else:
        raise ValueError(f"unknown hwaccel {method!r}")
    ctx.thread_count = thread_count
    ctx.open()
    return ctx


def open_decoder(
    codec_name: str,
    choice: HwaccelChoice,
    *,
    thread_count: int = 1,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
) -> tuple[CodecContext, str]:
    """Open a decoder for `codec_name`; return it and the method used (``"software"``, ...).

    A failed hardware attempt is logged once as E302 and software is used instead.
    """
    methods: tuple[str, ...] = (
        () if choice == "none" else (AUTO_ORDER if choice == "auto" else (choice,))
    )
    failures: list[str] = []
    for method in methods:
        try:
            return _open_hw(codec_name, method, thread_count), method
        except (av.error.FFmpegError, OSError, ValueError) as err:
            failures.append(f"{method}: {getattr(err, 'strerror', None) or type(err).__name__}")
    if failures:
        log.warning(
            "%s",
            DecodeError(
                f"hwaccel {choice} unavailable ({'; '.join(failures)}), decoding in software",
                code="E302",
            ),
        )
    ctx = CodecContext.create(codec_name, "r")
    ctx.thread_count = thread_count
    ctx.open()
    return ctx, "software"
