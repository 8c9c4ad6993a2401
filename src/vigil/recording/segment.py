"""One recording segment: fragmented MP4 while written, fast-start MP4 once closed.

While open, the segment is ``{name}.partial.mp4``, fragmented with fragments of at most
:data:`FRAGMENT_SECONDS`, so a killed process loses less than a second. The file opens with
a reserved ``free`` box, room for the final ``moov``. On close
:mod:`vigil.recording.faststart` makes it a fast-start MP4 (``moov`` first) where it lies,
box by box with no demuxing and no copy of the media data; it is then fsynced and renamed
into place, so readers only ever see whole files. If the ``moov`` outgrows the room (a
segment much longer than ``segment_seconds``), the file is rewritten into a new one instead.
Recovery finalizes a crash's partial file the same way. Should a file hold a box the
rewriter doesn't know, FFmpeg remuxes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from vigil.recording import faststart
from vigil.recording.audio import G711, AacTranscoder
from vigil.storage.index import Index

_log = logging.getLogger(__name__)

# A kill -9 loses the fragment being filled plus what waits in the recorder's queue (its
# BATCH_INTERVAL, 0.75 s): 0.2 s (and the frame that ends it) keeps the sum within 1 s.
# Short fragments cost next to nothing (a moof box each, and a chunk in the final file);
# long batches save a lot (docs/benchmarks.md).
FRAGMENT_SECONDS = 0.2
PARTIAL_SUFFIX = ".partial.mp4"
# delay_moov: the moov is written with the first fragment, once each track's first
# timestamp is known, so it carries the edit lists (audio joining late; AAC priming).
# Without it FFmpeg stretches a late track's first sample back to 0.
FRAGMENTED = {
    # skip_trailer: no mfra index at the end (unused, and it would hold FFmpeg's offsets,
    # which don't count the reserved box)
    "movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof+skip_trailer",
    "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)),  # microseconds
}
FASTSTART = {"movflags": "+faststart"}
# Reading back our own MP4: its sample descriptions hold every parameter, so there is no
# need to probe by decoding frames (measured: 37 ms down to 7 ms for a 10 s 1080p segment).
NO_PROBE = {"analyzeduration": "0", "probesize": "32", "fpsprobesize": "0"}
# The partial's moov says when its first frame was, to the microsecond, for recovery: the
# file's name has the second only, and a recovered segment placed by it would start up to a
# second early, over the end of the one before.
START_TAG = "vigil-start="
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "alac", "flac"})  # what MP4 can hold by copy


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    """A finished segment on disk."""

    path: Path
    start: float  # Unix time of its first frame
    duration: float  # seconds
    bytes: int
    codec: str
    frames: int


@dataclass(frozen=True, slots=True)
class NewParameters:
    """Decoder parameters that replace the connection's (an in-band SPS/PPS change)."""

    extradata: bytes  # Annex B parameter sets
    width: int
    height: int


HEVC_ID = av.Codec("hevc", "r").id


def tag_stream(out_stream: Any) -> None:
    """Tag H.265 ``hvc1``: what Apple players and browsers need for H.265 in MP4. (By codec
    id: a stream made from a template is named after the encoder, e.g. libx265.)"""
    if out_stream.codec_context.codec.id == HEVC_ID:
        out_stream.codec_tag = "hvc1"


class SegmentWriter:
    """Writes packets of one stream (plus audio) into one segment.

    Packets are muxed once, into the fragmented ``.partial.mp4``, which survives a crash.
    Closing rewrites it as the fast-start segment by its boxes (:func:`finalize`): the
    sample tables from the fragments' headers, the media data copied by the kernel. No
    packet passes through Python or FFmpeg a second time (docs/benchmarks.md).

    Timestamps are kept as integers in each stream's own time base (constant within a
    segment): Fraction arithmetic per packet cost more than muxing it.
    """

    def __init__(
        self,
        final_path: Path,
        start: float,
        video: Any,
        audio: Any | None,
        params: NewParameters | None = None,
        seconds: float = 60.0,
    ):
        """`seconds`: the length expected (``record.segment_seconds``), to size the room
        reserved for the final moov."""
        self.final_path = final_path
        self.partial_path = final_path.with_name(final_path.stem + PARTIAL_SUFFIX)
        self.tmp_path = tmp_path_of(final_path)
        self.start = start
        self.codec = canonical_codec(video)
        self.frames = 0
        final_path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = _open_reserved(self.partial_path, faststart.reservation(seconds))
        try:
            # FFmpeg writes on from the end of the reserved box, through the descriptor:
            # a pipe to it, so its offsets (relative to the first fragment) are never sought
            self._out = av.open(f"pipe:{self._fd}", "w", format="mp4", options=FRAGMENTED)
        except BaseException:
            os.close(self._fd)
            self.partial_path.unlink(missing_ok=True)
            raise
        try:
            self._out.metadata["comment"] = f"{START_TAG}{start:.6f}"
            self._video = self._out.add_stream_from_template(video)
            if params is not None:  # the camera changed them in band since it connected
                ctx = self._video.codec_context
                ctx.extradata = params.extradata
                ctx.width, ctx.height = params.width, params.height
            tag_stream(self._video)
            self._audio, self._transcoder = _audio_stream(self._out, audio)
            self._out.start_encoding()  # the header; the AAC encoder's parameters are now known
        except BaseException:
            self._abandon()
            raise
        self._origin: Fraction | None = None  # the first video frame's dts, in seconds
        self._shift: dict[bool, int] = {}  # per track: the origin in its time base
        self._video_base: Fraction | None = None
        self._first_pts: int | None = None  # > 0 when B-frames delay presentation
        self._end = 0  # where the last frame shown ends, in the video time base
        self._last_dts: int | None = None  # the previous video frame's (source time base)
        self._closed = False

    def _abandon(self) -> None:
        """Close and remove the file (a failed open)."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self._out.close()
        os.close(self._fd)
        self.partial_path.unlink(missing_ok=True)

    def write(self, packet: Any, is_video: bool) -> None:
        """Copy one packet in, its timestamps rebased to the segment's start."""
        stream = self._video if is_video else self._audio
        dts = packet.dts
        if stream is None or dts is None:
            return
        shift = self._shift.get(is_video)
        if shift is None:
            if self._origin is None:
                if not is_video:
                    return  # a segment starts with its first video frame
                self._origin = dts * packet.time_base
                self._video_base = packet.time_base
            # both tracks keep their offset to the segment's first video frame (A/V sync)
            shift = self._shift[is_video] = round(self._origin / packet.time_base)
        if dts < shift:
            return  # audio from before the segment's first frame
        if not is_video and self._transcoder is not None:
            for aac in self._transcoder.encode(packet, dts - shift):
                aac.stream = self._audio
                self._out.mux_one(aac)
            return
        pts = (packet.pts if packet.pts is not None else dts) - shift
        # a new packet on the same data (no copy): the shared one stays as others see it
        copy = av.Packet(packet)
        copy.time_base = packet.time_base
        copy.dts = dts - shift
        copy.pts = pts
        duration = packet.duration or 0
        copy.duration = duration
        copy.is_keyframe = packet.is_keyframe
        if is_video:
            if not duration and self._last_dts is not None:
                duration = dts - self._last_dts  # an encoder may leave it out; as the muxer does
            self._last_dts = dts
            self.frames += 1
            if self._first_pts is None or pts < self._first_pts:
                self._first_pts = pts
            if pts + duration > self._end:
                self._end = pts + duration
        copy.stream = stream
        self._out.mux_one(copy)

    def sync(self) -> None:
        """Make what is written so far durable (a power loss keeps it): fdatasync."""
        os.fdatasync(self._fd)

    def step(self, packet: Any) -> float | None:
        """Seconds from the last video frame written to `packet` (a video packet) in the
        stream's own time: negative when the camera's clock went back; None before any."""
        if self._last_dts is None or packet.dts is None:
            return None
        return float((packet.dts - self._last_dts) * packet.time_base)

    @property
    def duration(self) -> float:
        """Seconds from the first frame shown to the end of the last."""
        if self._video_base is None:
            return 0.0
        return float((self._end - (self._first_pts or 0)) * self._video_base)

    def close(self) -> ClosedSegment | None:
        """Finish the fragmented file and finalize it into the segment."""
        return self.finalize() if self.finish() else None

    def finish(self) -> bool:
        """Write the last fragment and close the fragmented file (cheap: no fsync); whether
        it holds a frame to finalize. An empty one is removed."""
        if self._closed:
            return False
        self._closed = True
        try:
            if self._transcoder is not None and self.frames:
                for aac in self._transcoder.flush():
                    aac.stream = self._audio
                    self._out.mux_one(aac)
        finally:
            try:
                self._out.close()
            finally:
                os.close(self._fd)
        if self.frames == 0:
            self.partial_path.unlink(missing_ok=True)
        return self.frames > 0

    def finalize(self) -> ClosedSegment:
        """Make the finished file the fast-start segment (fsyncs, reads it: the slow part)."""
        segment = finalize(self.partial_path, self.final_path, self.start)
        # the writer's own count and duration: exact even where the file rounds
        return ClosedSegment(
            segment.path, self.start, self.duration, segment.bytes, self.codec, self.frames
        )


def _audio_stream(out: Any, audio: Any | None) -> tuple[Any, AacTranscoder | None]:
    """The output's audio track for `audio`: copied (AAC...), transcoded (G.711) or none."""
    if audio is None:
        return None, None
    if audio.codec_context.name in MP4_AUDIO:
        return out.add_stream_from_template(audio), None
    if audio.codec_context.name in G711:
        transcoder = AacTranscoder(out, audio)
        return transcoder.stream, transcoder
    return None, None


def _publish(tmp: Path, final: Path) -> None:
    """fsync `tmp` and rename it to `final`, then the folder: readers only ever see whole
    files, and a power loss can't bring the old name back."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    fsync_directory(final.parent)


def fsync_directory(folder: Path) -> None:
    """Make the names in `folder` (a rename, a new file) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_CANONICAL = {av.Codec(name, "r").id: name for name in ("h264", "hevc", "mjpeg", "av1", "vp9")}


def canonical_codec(stream: Any) -> str:
    """h264/hevc/... for a stream, whether it came from a demuxer or an encoder (libx264)."""
    codec = stream.codec_context.codec
    return str(_CANONICAL.get(codec.id, codec.name))


def tmp_path_of(final: Path) -> Path:
    """Where a segment is finalized before its rename: hidden, so no scan takes it."""
    return final.with_name(f".{final.stem}.tmp.mp4")


def finalize(partial: Path, final: Path, start: float) -> ClosedSegment:
    """Turn fragmented `partial` into the fast-start segment `final`; `partial` is gone.

    By boxes: in place (:func:`faststart.finalize_in_place`), else into a new file
    (:func:`faststart.rewrite`); by FFmpeg's remux if the file holds something the rewriter
    doesn't know. Raises OSError (ENOSPC...) or FFmpeg's errors if all fail.
    """
    if faststart.committed(partial):  # a finalize in place that a crash cut short
        faststart.finish_committed(partial)
        _publish(partial, final)
        return probe(final, start)
    tmp = tmp_path_of(final)
    try:
        done = faststart.finalize_in_place(partial)
        if done is not None:
            _publish(partial, final)
            size = final.stat().st_size
            return ClosedSegment(final, start, done.duration, size, done.codec, done.frames)
        done = faststart.rewrite(partial, tmp)  # no room reserved, or too little
    except ValueError as err:
        _log.warning("%s: remuxing with FFmpeg (%s)", partial.name, err)
        tmp.unlink(missing_ok=True)
        return remux(partial, final, start)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _publish(tmp, final)
    partial.unlink(missing_ok=True)
    return ClosedSegment(final, start, done.duration, final.stat().st_size, done.codec, done.frames)


def probe(path: Path, start: float) -> ClosedSegment:
    """A finished segment as FFmpeg reads it (for one whose writer's figures are lost)."""
    with av.open(str(path), options=NO_PROBE) as container:
        video = container.streams.video[0]
        duration = float(container.duration or 0) / av.time_base
        codec, frames = canonical_codec(video), video.frames
    return ClosedSegment(path, start, duration, path.stat().st_size, codec, frames)


def _open_reserved(path: Path, reserved: int) -> int:
    """A new segment file opening with a free box of `reserved` bytes, positioned past it
    (the box's body is a hole until the close writes the moov there)."""
    # O_EXCL: a name is never taken over (segment_path picks a free one; a second vigil on
    # the same storage, which the instance lock refuses, would fail here, not truncate)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, faststart.reserved_header(reserved))
        os.lseek(fd, reserved, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


def remux(partial: Path, final: Path, start: float) -> ClosedSegment:
    """Remux a fragmented MP4 into a fast-start MP4 at `final` with FFmpeg; remove `partial`."""
    tmp = tmp_path_of(final)
    frames, end, codec = 0, Fraction(0), ""
    first: Fraction | None = None
    with (
        av.open(str(partial), options=NO_PROBE) as src,
        av.open(str(tmp), "w", format="mp4", options=FASTSTART) as dst,
    ):
        mapping = {}
        for stream in src.streams:
            if stream.type in ("video", "audio"):
                out = dst.add_stream_from_template(stream)
                tag_stream(out)
                mapping[stream.index] = out
        video = src.streams.video[0]
        codec = video.codec_context.name
        for packet in src.demux(list(src.streams)):
            if packet.dts is None or packet.stream.index not in mapping:
                continue
            if packet.stream is video:
                frames += 1
                shown = (packet.pts if packet.pts is not None else packet.dts) * packet.time_base
                first = shown if first is None else min(first, shown)
                end = max(end, shown + (packet.duration or 0) * packet.time_base)
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)
    _publish(tmp, final)
    partial.unlink(missing_ok=True)
    duration = float(end - (first or 0))
    return ClosedSegment(final, start, duration, final.stat().st_size, codec, frames)


def index_segment(
    index: Index, root: Path, camera: str, segment: ClosedSegment, has_event: bool = False
) -> int:
    """Add a closed segment to the index (its path relative to the storage root)."""
    return index.add_segment(
        camera=camera,
        start=segment.start,
        end=segment.start + segment.duration,
        duration=segment.duration,
        bytes=segment.bytes,
        codec=segment.codec,
        has_event=has_event,
        keep=False,
        path=str(segment.path.relative_to(root)),
    )
