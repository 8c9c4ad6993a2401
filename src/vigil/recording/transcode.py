"""Re-encoding for recording, when asked (``record.codec: h264 | h265``) or needed.

Stream copy costs well under 1 % of a core; re-encoding costs tens of percent (see
docs/recording.md), so it runs only when the user asks for it, or when the source has
nothing an MP4 player can use (MJPEG or raw frames from a USB camera), which is encoded to
H.264.

The encoder lives in a small output container of its own that is never written anywhere
useful: opening it gives the encoder's parameter sets, and its stream is the template each
segment copies, exactly as a stream-copied segment copies the camera's stream. One encoder
per connection, so segments follow each other without restarting it; segments are cut at
its key frames, forced every two seconds of stream time.

Hardware encoders (NVENC, QSV) are tried first with ``record.encoder: auto`` when the PyAV
wheel has them; a machine without the hardware falls back to libx264/libx265 (E304).
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from fractions import Fraction
from typing import Any

import av
import av.error

from vigil.config import RecordConfig
from vigil.errors import DecodeError
from vigil.media.packets import MediaPacket, StreamInfo

COPYABLE = frozenset({"h264", "hevc"})  # what vigil records as is
SOFTWARE = {"h264": "libx264", "h265": "libx265"}
HARDWARE = {
    "nvenc": {"h264": "h264_nvenc", "h265": "hevc_nvenc"},
    "qsv": {"h264": "h264_qsv", "h265": "hevc_qsv"},
}
KEYFRAME_SECONDS = 2.0  # encoder GOP: segments are cut at key frames
DEFAULT_FPS = 30.0


def target_codec(config: RecordConfig, source_codec: str) -> str | None:
    """The codec to encode to, or None to copy the source as it is."""
    if config.codec != "copy":
        return config.codec
    return None if source_codec in COPYABLE else "h264"


def encoder_names(codec: str, choice: str) -> list[str]:
    """Encoders to try in order, for `codec` (h264/h265) and ``record.encoder``."""
    kinds = {"auto": ["nvenc", "qsv"], "software": [], "nvenc": ["nvenc"], "qsv": ["qsv"]}
    names = [HARDWARE[k][codec] for k in kinds[choice]]
    return [n for n in names if n in av.codecs_available] + [SOFTWARE[codec]]


class VideoTranscoder:
    """Decodes one connection's video packets and encodes them to H.264 or H.265."""

    def __init__(self, info: StreamInfo, codec: str, config: RecordConfig, log: logging.Logger):
        self.log = log
        source = info.video.codec_context
        self.time_base: Fraction = info.video.time_base or Fraction(1, 90_000)
        self._decoder: Any = av.CodecContext.create(source.name, "r")
        if source.extradata:
            self._decoder.extradata = source.extradata
        if source.name == "rawvideo":
            self._decoder.width, self._decoder.height = source.width, source.height
            self._decoder.pix_fmt = source.pix_fmt
        self._decoder.thread_type = "AUTO"
        self._info = info
        self._codec = codec
        self._config = config
        self._sink: Any = None
        self.stream: Any = None  # the encoder's stream: the template of each segment
        self.info: StreamInfo | None = None  # what the encoded packets carry, once open
        self.encoder_name = ""
        self.frames_in = 0
        self._next_key: Fraction | None = None  # stream time of the next forced key frame

    def feed(self, item: MediaPacket) -> list[MediaPacket]:
        """Encoded packets (maybe none yet) for one source video packet."""
        out: list[MediaPacket] = []
        try:
            frames = self._decoder.decode(item.packet)
        except av.error.FFmpegError:
            return out  # a damaged packet: the decoder resyncs at the next key frame
        for frame in frames:
            if frame.pts is None:
                continue
            if self.stream is None:
                self._open(frame)
            self.frames_in += 1
            # a key frame every KEYFRAME_SECONDS of stream time, whatever the frame rate
            # (MJPEG cameras rarely say theirs); the source's own frame types don't count
            at = frame.pts * self.time_base
            if self._next_key is None or at >= self._next_key:
                self._next_key = at + Fraction(KEYFRAME_SECONDS)
                frame.pict_type = av.video.frame.PictureType.I
            else:
                frame.pict_type = av.video.frame.PictureType.NONE
            for packet in self.stream.encode(frame):
                out.append(self._wrap(packet, item))
        return out

    def flush(self, last: MediaPacket | None) -> list[MediaPacket]:
        """What the encoder still holds (at the end of a connection)."""
        if self.stream is None or last is None:
            return []
        try:
            return [self._wrap(p, last) for p in self.stream.encode(None)]
        except av.error.FFmpegError:
            return []

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def _wrap(self, packet: Any, source: MediaPacket) -> MediaPacket:
        assert self.info is not None
        return MediaPacket(packet, self.info, True, packet.is_keyframe, source.received)

    def _open(self, frame: Any) -> None:
        fps = self._info.fps or DEFAULT_FPS
        failures = []
        for name in encoder_names(self._codec, self._config.encoder):
            sink: Any = av.open(io.BytesIO(), "w", format="mp4")
            stream: Any = sink.add_stream(name, rate=Fraction(fps).limit_denominator(1001))
            ctx = stream.codec_context
            ctx.width, ctx.height = frame.width, frame.height
            ctx.pix_fmt = "yuv420p" if name.startswith("lib") else "nv12"
            ctx.time_base = self.time_base
            stream.time_base = self.time_base
            ctx.gop_size = max(1, round(fps * KEYFRAME_SECONDS * 2))  # a ceiling; see feed()
            ctx.thread_count = 0  # one per core
            ctx.options = self._options(name)
            try:
                sink.start_encoding()  # opens the encoder: its parameter sets are now known
            except (av.error.FFmpegError, ValueError) as err:
                failures.append(name)
                self.log.debug("encoder %s unavailable: %s", name, err)
                sink.close()
                continue
            if failures:
                self.log.info(
                    "%s",
                    DecodeError(
                        f"hardware encoder {', '.join(failures)} unavailable; encoding with {name}",
                        code="E304",
                    ),
                )
            self._sink, self.stream, self.encoder_name = sink, stream, name
            self.info = replace(
                self._info,
                codec=ctx.name,
                width=frame.width,
                height=frame.height,
                video=stream,
            )
            self.log.info(
                "recording re-encoded to %s with %s (%dx%d)",
                self._codec,
                name,
                frame.width,
                frame.height,
            )
            return
        raise DecodeError(f"no encoder for {self._codec} could be opened", code="E304")

    def _options(self, name: str) -> dict[str, str]:
        options: dict[str, str] = {}
        if name.startswith("lib"):
            options["preset"] = self._config.preset
            options["forced-idr"] = "1"  # a forced key frame is an IDR: a segment can start there
            if self._config.quality is not None:
                options["crf"] = str(self._config.quality)
            if name == "libx265":
                # closed GOPs: an open GOP's leading frames need the previous segment's
                options["x265-params"] = "log-level=error:open-gop=0"
        return options
