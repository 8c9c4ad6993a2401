"""In-band parameter sets: spotting a camera that changes resolution without reconnecting.

An MP4 file holds one set of decoder parameters (SPS/PPS, and VPS for H.265) in its sample
description, so when a camera sends new ones with a key frame (a resolution or profile
change in its settings), the recorder cuts the segment there and the new segment carries
the new set. Only key frames are looked at, and only their head, up to the first slice.

RTSP delivers H.264/H.265 in Annex B form (start codes); packets of a file input are
length-prefixed, carry no in-band sets and are never reported as changing.
"""

from __future__ import annotations

from typing import Any

import av

START = b"\x00\x00\x01"
# NAL unit types of the parameter sets
_H264_SETS = frozenset({7, 8})  # SPS, PPS
_HEVC_SETS = frozenset({32, 33, 34})  # VPS, SPS, PPS


def _nal_type(codec: str, header: int) -> int:
    return header & 0x1F if codec == "h264" else (header >> 1) & 0x3F


def _is_slice(codec: str, kind: int) -> bool:
    return 1 <= kind <= 5 if codec == "h264" else kind < 32


def parameter_sets(data: bytes, codec: str) -> bytes | None:
    """The parameter sets at the head of an Annex B access unit, in Annex B form, or None."""
    annex_b = data.startswith(START) or data.startswith(b"\x00" + START)
    if codec not in ("h264", "hevc") or not annex_b:
        return None
    sets = _H264_SETS if codec == "h264" else _HEVC_SETS
    found: list[bytes] = []
    pos = data.find(START)
    while pos != -1:
        begin = pos + len(START)
        if begin >= len(data):
            break
        kind = _nal_type(codec, data[begin])
        if _is_slice(codec, kind):
            break
        nxt = data.find(START, begin)
        if kind in sets:
            end = len(data) if nxt == -1 else nxt
            found.append(b"\x00\x00\x00\x01" + data[begin:end].rstrip(b"\x00"))
        pos = nxt
    return b"".join(found) or None


def frame_size(codec: str, params: bytes, keyframe: bytes) -> tuple[int, int] | None:
    """Width and height of a key frame, by decoding it once (on a change only)."""
    decoder: Any = av.CodecContext.create(codec, "r")
    decoder.extradata = params
    try:
        for frame in decoder.decode(av.Packet(keyframe)):
            return frame.width, frame.height
        for frame in decoder.decode(None):
            return frame.width, frame.height
    except av.error.FFmpegError:
        return None
    return None
