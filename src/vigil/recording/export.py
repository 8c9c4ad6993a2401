"""Export: any time range of a camera's footage as one MP4, remuxed from its segments.

No frame is decoded or re-encoded. The export starts at the video key frame at or before the
requested start (a file can only begin at a key frame) and ends before the first frame at or
after the requested end. Each segment's packets are placed on one timeline by the segment's
wall-clock start, so a gap in the footage (the camera was down) stays a gap in time.

The MP4 holds one set of decoder parameters: an export that reaches a segment with other
parameters (a resolution change) stops before it, and says so in its result.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigil.errors import StorageError
from vigil.recording.segment import FASTSTART, NO_PROBE, tag_stream
from vigil.storage.index import Index, SegmentRow

_log = logging.getLogger(__name__)
EXPORTS = "exports"  # under the storage root: same disk as the footage, removed after sending


@dataclass(frozen=True, slots=True)
class Exported:
    path: Path
    start: float  # Unix time of the first frame (the key frame at or before the asked start)
    end: float  # Unix time just after the last frame
    frames: int
    segments: int
    truncated: bool  # stopped early at a parameter change


def exports_dir(root: Path) -> Path:
    return root / EXPORTS


def clear_exports(root: Path) -> None:
    """Remove exports left behind by a process that died while sending them."""
    folder = exports_dir(root)
    if folder.is_dir():
        for leftover in folder.glob("*.mp4"):
            leftover.unlink(missing_ok=True)


def _signature(stream: Any) -> tuple[Any, ...]:
    ctx = stream.codec_context
    return (ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b""))


def export(index: Index, root: Path, camera: str, start: float, end: float) -> Exported:
    """Write the footage of `camera` in [start, end) to a new file under ``exports/``.

    Raises StorageError E405 when there is no footage in the range.
    """
    rows = [r for r in index.segments(camera, start, end) if r.start < end and r.end > start]
    if not rows:
        raise StorageError(f"no recordings of {camera!r} in that range", code="E405")
    folder = exports_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.mp4"
    try:
        result = _write(path, root, rows, start, end)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _log.info(
        "export of %s: %d segment(s), %.1f s, %d frames%s",
        camera,
        result.segments,
        result.end - result.start,
        result.frames,
        " (stopped at a parameter change)" if result.truncated else "",
    )
    return result


def _write(path: Path, root: Path, rows: list[SegmentRow], start: float, end: float) -> Exported:
    out = av.open(str(path), "w", format="mp4", options=FASTSTART)
    video_out: Any = None
    audio_out: Any = None
    signature: tuple[Any, ...] | None = None
    origin: float | None = None  # wall time of the export's first frame
    last_end = 0.0
    frames = used = 0
    truncated = False
    last_dts: dict[int, int] = {}
    try:
        for row in rows:
            with av.open(str(root / row.path), options=NO_PROBE) as src:
                video = src.streams.video[0]
                audio = src.streams.audio[0] if src.streams.audio else None
                if video_out is None:
                    signature = _signature(video)
                    video_out = out.add_stream_from_template(video)
                    tag_stream(video_out)
                    if audio is not None:
                        audio_out = out.add_stream_from_template(audio)
                elif _signature(video) != signature:
                    truncated = True
                    break
                streams = [video] + ([audio] if audio is not None and audio_out else [])
                used += 1
                for packet, t in _packets_in_range(src, streams, row.start, start, end):
                    is_video = packet.stream is video
                    if origin is None:
                        if not is_video:
                            continue
                        origin = t
                    if t < origin:
                        continue  # audio from before the first key frame
                    target = video_out if is_video else audio_out
                    _retime(packet, t - origin, target, last_dts)
                    out.mux(packet)
                    if is_video:
                        frames += 1
                        last_end = max(
                            last_end, t + float((packet.duration or 0) * packet.time_base)
                        )
        if origin is None:
            raise StorageError("no video frame in that range", code="E405")
    finally:
        out.close()
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return Exported(path, origin, last_end, frames, used, truncated)


def _packets_in_range(
    src: Any, streams: list[Any], seg_start: float, start: float, end: float
) -> Iterator[tuple[Any, float]]:
    """A segment's packets with their wall times, from the key frame at or before `start`
    (the GOP before it is held back until `start` is reached) and before `end`."""
    video = streams[0]
    gop: list[tuple[Any, float]] = []
    started = False
    for packet in src.demux(streams):
        if packet.dts is None:
            continue
        stamp = packet.pts if packet.pts is not None else packet.dts
        t = seg_start + float(stamp * packet.time_base)
        is_video = packet.stream is video
        if is_video and t >= end:
            return
        if started:
            yield packet, t
            continue
        if is_video and packet.is_keyframe:
            gop = []
        if not gop and not (is_video and packet.is_keyframe):
            continue  # nothing before the first key frame
        gop.append((packet, t))
        if is_video and t >= start:
            started = True
            yield from gop
            gop = []


def _retime(packet: Any, offset: float, target: Any, last_dts: dict[int, int]) -> None:
    """Move a packet to `offset` seconds on the export's timeline, dts strictly increasing."""
    base: Fraction = packet.time_base
    shift = (packet.pts if packet.pts is not None else packet.dts) - packet.dts
    pts = round(Fraction(offset) / base)
    dts = pts - shift
    previous = last_dts.get(target.index)
    if previous is not None and dts <= previous:
        pts += previous + 1 - dts
        dts = previous + 1
    last_dts[target.index] = dts
    packet.pts, packet.dts = pts, dts
    packet.stream = target
