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
# (method, codec) that "auto" found missing: not probed again in this process, and said once
_auto_failed: set[tuple[str, str]] = set()


def _open_hw(
    codec_name: str,
    method: str,
    thread_count: int,
    options: dict[str, str],
    extradata: bytes | None,
) -> CodecContext:
    if method == "cuda":
        ctx = CodecContext.create(
            codec_name, "r", hwaccel=HWAccel("cuda", allow_software_fallback=False)
        )
    elif method == "v4l2m2m":
        ctx = CodecContext.create(f"{codec_name}_v4l2m2m", "r")
    else:
        raise ValueError(f"unknown hwaccel {method!r}")
    _configure(ctx, thread_count, options, extradata)
    return ctx


def _configure(
    ctx: CodecContext, thread_count: int, options: dict[str, str], extradata: bytes | None
) -> None:
    ctx.thread_count = thread_count
    if options:
        ctx.options = dict(options)
    if extradata:
        ctx.extradata = extradata
    ctx.open()


def open_decoder(
    codec_name: str,
    choice: HwaccelChoice,
    *,
    thread_count: int = 1,
    options: dict[str, str] | None = None,
    extradata: bytes | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
) -> tuple[CodecContext, str]:
    """Open a decoder for `codec_name`; return it and the method used (``"software"``, ...).

    A failed hardware attempt is logged as E302 (a warning when asked for by name; for
    ``auto``, where it is expected on most machines, once at info level, and not probed
    again) and software is used instead.
    `options` are the decoder's AVOptions (``skip_loop_filter``, ...); `extradata` the
    stream's (avcC/hvcC), for sources that carry the parameter sets out of band.
    """
    options = options or {}
    methods: tuple[str, ...] = (
        () if choice == "none" else (AUTO_ORDER if choice == "auto" else (choice,))
    )
    if choice == "auto":
        methods = tuple(m for m in methods if (m, codec_name) not in _auto_failed)
    failures: list[str] = []
    for method in methods:
        try:
            return _open_hw(codec_name, method, thread_count, options, extradata), method
        except (av.error.FFmpegError, OSError, ValueError) as err:
            failures.append(f"{method}: {getattr(err, 'strerror', None) or type(err).__name__}")
            if choice == "auto":
                _auto_failed.add((method, codec_name))
    if failures:
        log.log(
            logging.INFO if choice == "auto" else logging.WARNING,
            "%s",
            DecodeError(
                f"hwaccel {choice} unavailable ({'; '.join(failures)}), decoding in software",
                code="E302",
            ),
        )
    ctx = CodecContext.create(codec_name, "r")
    _configure(ctx, thread_count, options, extradata)
    return ctx, "software"
