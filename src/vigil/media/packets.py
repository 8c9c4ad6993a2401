"""What a camera input hands every stage: its demuxed packets and what its connection carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a connection carries; a new one per (re)connect, so consumers see restarts."""

    connection: int
    codec: str
    width: int
    height: int
    fps: float | None
    video: Any  # av.video.stream.VideoStream, for remuxing (add_stream_from_template)
    audio: Any = None  # av.audio.stream.AudioStream or None


@dataclass(slots=True)
class MediaPacket:
    """One demuxed packet and where it came from."""

    packet: Any  # av.Packet
    info: StreamInfo
    is_video: bool
    keyframe: bool
    received: float  # time.monotonic() when it was read


class EndOfStream(Exception):
    """The hub closed and this subscription has been drained."""
