"""A fragmented MP4's tracks and samples: the ``moov`` (tracks, sample descriptions, edits,
``trex`` defaults) and each fragment's ``tfhd``, ``tfdt`` and ``trun``.

Python touches one small box per fragment, never a sample's data: the per-sample fields of a
``trun`` are read as one array of words and sliced by column.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vigil.recording.mp4.boxes import boxes, file_boxes, walk

NON_SYNC = 0x00010000  # sample_is_non_sync_sample in the sample flags
CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"av01": "av1"}
# samples a trun may hold: a 0.2 s fragment holds a few, a minute at 1000 fps in one run
# 60000; past this the count is taken for the garbage it is
MAX_TRUN_SAMPLES = 1 << 16
CODECS |= {b"vp09": "vp9", b"mp4v": "mpeg4", b"jpeg": "mjpeg", b"mjpa": "mjpeg"}
_LITTLE = sys.byteorder == "little"
# tfhd flags
_BASE_DATA_OFFSET, _SAMPLE_DESCRIPTION, _DEFAULT_DURATION = 0x1, 0x2, 0x8
_DEFAULT_SIZE, _DEFAULT_FLAGS, _BASE_IS_MOOF = 0x10, 0x20, 0x20000
# trun flags
_DATA_OFFSET, _FIRST_SAMPLE_FLAGS = 0x1, 0x4
_SAMPLE_DURATION, _SAMPLE_SIZE, _SAMPLE_FLAGS, _SAMPLE_CTO = 0x100, 0x200, 0x400, 0x800


@dataclass
class Track:
    track_id: int
    trak: bytes = b""
    timescale: int = 0
    handler: bytes = b""
    codec: str = ""
    # trex defaults
    sdi: int = 1
    duration: int = 0
    size: int = 0
    flags: int = 0
    # samples
    first_dts: int | None = None
    next_dts: int = 0
    durations: array[int] = field(default_factory=lambda: array("q"))
    sizes: array[int] = field(default_factory=lambda: array("q"))
    cto: array[int] = field(default_factory=lambda: array("q"))  # composition offsets
    sync: list[int] = field(default_factory=list)  # 1-based sample numbers
    edits: list[tuple[int, int]] = field(default_factory=list)  # elst: duration, media time
    chunks: list[tuple[int, int, int]] = field(default_factory=list)  # src offset, n, sdi


class FragmentedFile:
    """The fragmented file's tracks and where its media data lies."""

    def __init__(self, path: Path):
        self.ftyp = b""
        self.mvhd = b""
        self.moov_rest: list[bytes] = []  # udta and the like, kept as they are
        self.tracks: dict[int, Track] = {}
        self.order: list[int] = []
        self.mdats: list[tuple[int, int]] = []  # payload start, end
        self.reserved = 0  # size of a free box at offset 0: room for the moov, in place
        try:
            self._read(path)
        except (struct.error, IndexError, KeyError) as err:  # a field cut short or garbled
            raise ValueError(f"a box doesn't parse: {err}") from None
        if not self.ftyp or not self.mvhd or not self.tracks:
            raise ValueError("not a fragmented MP4 (no ftyp, mvhd or track)")
        if not any(track.sizes for track in self.tracks.values()):
            raise ValueError("no fragment holds a sample")

    def _read(self, path: Path) -> None:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for kind, start, body, end in file_boxes(fh, size):
                if kind == b"free" and start == 0:
                    self.reserved = end
                elif kind == b"ftyp":
                    fh.seek(start)
                    self.ftyp = fh.read(end - start)
                elif kind == b"moov":
                    fh.seek(body)
                    self._moov(fh.read(end - body))
                elif kind == b"moof":
                    fh.seek(start)
                    self._moof(fh.read(end - start), start)
                elif kind == b"mdat":
                    self.mdats.append((body, end))

    def _moov(self, data: bytes) -> None:
        for kind, start, body, end in boxes(data):
            if kind == b"mvhd":
                self.mvhd = data[start:end]
            elif kind == b"trak":
                track = _parse_trak(data[start:end])
                self.tracks[track.track_id] = track
                self.order.append(track.track_id)
            elif kind == b"mvex":
                for sub, _s, sbody, _e in boxes(data, body, end):
                    if sub == b"trex":
                        tid, sdi, dur, size, flags = struct.unpack_from(">5I", data, sbody + 4)
                        known = self.tracks.get(tid)
                        if known is None:
                            raise ValueError(f"trex for unknown track {tid}")
                        known.sdi, known.duration, known.size, known.flags = sdi, dur, size, flags
            else:
                self.moov_rest.append(data[start:end])

    def _moof(self, data: bytes, moof_at: int) -> None:
        data_end: int | None = None  # where the previous traf's data ended
        for kind, _start, body, end in boxes(data, 8):
            if kind == b"traf":
                data_end = self._traf(data, body, end, moof_at, data_end)

    def _traf(self, data: bytes, body: int, end: int, moof_at: int, prev_end: int | None) -> int:
        track: Track | None = None
        base = moof_at if prev_end is None else prev_end
        sdi = dur = size = flags = 0
        pos = base
        for kind, _start, bbody, _end in boxes(data, body, end):
            if kind == b"tfhd":
                (vf,) = struct.unpack_from(">I", data, bbody)
                tf = vf & 0xFFFFFF
                (tid,) = struct.unpack_from(">I", data, bbody + 4)
                track = self.tracks.get(tid)
                if track is None:
                    raise ValueError(f"fragment of unknown track {tid}")
                sdi, dur, size, flags = track.sdi, track.duration, track.size, track.flags
                at = bbody + 8
                if tf & _BASE_DATA_OFFSET:
                    (base,) = struct.unpack_from(">Q", data, at)
                    at += 8
                elif tf & _BASE_IS_MOOF:
                    base = moof_at
                if tf & _SAMPLE_DESCRIPTION:
                    (sdi,) = struct.unpack_from(">I", data, at)
                    at += 4
                if tf & _DEFAULT_DURATION:
                    (dur,) = struct.unpack_from(">I", data, at)
                    at += 4
                if tf & _DEFAULT_SIZE:
                    (size,) = struct.unpack_from(">I", data, at)
                    at += 4
                if tf & _DEFAULT_FLAGS:
                    (flags,) = struct.unpack_from(">I", data, at)
                pos = base
            elif kind == b"tfdt" and track is not None:
                version = data[bbody]
                fmt = ">Q" if version == 1 else ">I"
                (tfdt,) = struct.unpack_from(fmt, data, bbody + 4)
                _jump_to(track, tfdt)
            elif kind == b"trun":
                if track is None:
                    raise ValueError("trun before tfhd")
                pos = _trun(track, data, bbody, base, pos, sdi, dur, size, flags)
        return pos


def _jump_to(track: Track, tfdt: int) -> None:
    """Place the next sample at `tfdt`: a gap or overlap is folded into the last duration."""
    if track.first_dts is None:
        track.first_dts = track.next_dts = tfdt
        return
    if tfdt != track.next_dts:
        if not track.durations:
            track.first_dts = track.next_dts = tfdt
            return
        last = track.durations[-1] + tfdt - track.next_dts
        if last < 0:
            raise ValueError("decode times go backwards between fragments")
        track.durations[-1] = last
        track.next_dts = tfdt


def _trun(
    track: Track,
    data: bytes,
    at: int,
    base: int,
    pos: int,
    sdi: int,
    dur: int,
    size: int,
    flags: int,
) -> int:
    """Append one trun's samples to `track`; return where its data ends in the file."""
    (vf,) = struct.unpack_from(">I", data, at)
    version, tr = vf >> 24, vf & 0xFFFFFF
    (count,) = struct.unpack_from(">I", data, at + 4)
    at += 8
    if tr & _DATA_OFFSET:
        (offset,) = struct.unpack_from(">i", data, at)
        pos = base + offset
        at += 4
    first_flags = None
    if tr & _FIRST_SAMPLE_FLAGS:
        (first_flags,) = struct.unpack_from(">I", data, at)
        at += 4
    fields = (_SAMPLE_DURATION, _SAMPLE_SIZE, _SAMPLE_FLAGS, _SAMPLE_CTO)
    present = [bit for bit in fields if tr & bit]
    stride = len(present)
    if at + 4 * stride * count > len(data):
        raise ValueError("trun overruns its box")
    if count > MAX_TRUN_SAMPLES:  # a count without per-sample fields takes no room to lie
        raise ValueError(f"trun claims {count} samples")
    if track.first_dts is None:
        track.first_dts = track.next_dts = 0
    # the per-sample fields, all 32-bit big-endian words: read as one array, then sliced
    words = array("I", data[at : at + 4 * stride * count])
    if _LITTLE:
        words.byteswap()
    column = {bit: words[i::stride] for i, bit in enumerate(present)}
    durations = array("q", column.get(_SAMPLE_DURATION, array("I", [dur]) * count))
    sizes = array("q", column.get(_SAMPLE_SIZE, array("I", [size]) * count))
    if _SAMPLE_CTO in column:
        cto = array("q", column[_SAMPLE_CTO])
        if version:  # signed offsets
            cto = array("q", (c - (1 << 32) if c & 0x80000000 else c for c in cto))
    else:
        cto = array("q", bytes(8 * count))
    _sync_samples(track, column.get(_SAMPLE_FLAGS), first_flags, flags, count)
    track.durations.extend(durations)
    track.sizes.extend(sizes)
    track.cto.extend(cto)
    track.next_dts += sum(durations)
    if count:
        track.chunks.append((pos, count, sdi))
    return pos + sum(sizes)


def _sync_samples(
    track: Track, sample_flags: array[int] | None, first: int | None, default: int, count: int
) -> None:
    """Note which of a trun's `count` new samples are sync samples (key frames), from their
    own flags, else the first sample's and the default flags."""
    number = len(track.sizes) + 1
    if sample_flags is not None:
        each = list(sample_flags)
        if first is not None and count:
            each[0] = first
        track.sync.extend(number + i for i, f in enumerate(each) if not f & NON_SYNC)
        return
    if first is not None and count and not first & NON_SYNC:
        track.sync.append(number)
    if not default & NON_SYNC:
        track.sync.extend(range(number + (first is not None), number + count))


def _parse_trak(trak: bytes) -> Track:
    track: Track | None = None
    timescale, handler, codec = 0, b"", ""
    edits: list[tuple[int, int]] = []
    for kind, _start, body, end in walk(trak):
        if kind == b"tkhd":
            version = trak[body]
            (tid,) = struct.unpack_from(">I", trak, body + (20 if version == 1 else 12))
            track = Track(tid)
        elif kind == b"mdhd":
            version = trak[body]
            (timescale,) = struct.unpack_from(">I", trak, body + (20 if version == 1 else 12))
        elif kind == b"hdlr":
            handler = trak[body + 8 : body + 12]
        elif kind == b"elst":
            edits = _parse_elst(trak, body)
        elif kind == b"stsd" and end - body >= 16:
            codec = CODECS.get(trak[body + 12 : body + 16], trak[body + 12 : body + 16].decode())
    if track is None or not timescale:
        raise ValueError("track without tkhd or mdhd")
    track.trak, track.timescale, track.handler, track.codec = trak, timescale, handler, codec
    track.edits = edits
    return track


def _parse_elst(data: bytes, body: int) -> list[tuple[int, int]]:
    """(segment duration, media time) of each edit; rate 1 only."""
    version = data[body]
    (count,) = struct.unpack_from(">I", data, body + 4)
    entry = struct.Struct(">QqI" if version == 1 else ">IiI")
    edits = []
    for i in range(count):
        duration, media_time, rate = entry.unpack_from(data, body + 8 + i * entry.size)
        if rate != 0x00010000:
            raise ValueError("an edit that changes the playback rate")
        edits.append((duration, media_time))
    return edits


def _decode_times(track: Track, origin: int = 0) -> Iterator[int]:
    dts = (track.first_dts or 0) - origin
    for d in track.durations:
        yield dts
        dts += d


def presentation(track: Track, origin: int = 0) -> tuple[int, int]:
    """When the track's first sample is shown and its last one ends, from `origin`."""
    if not track.sizes:
        return 0, 0
    start = (track.first_dts or 0) - origin
    if not any(track.cto):
        return start, start + sum(track.durations)
    shown = [dts + c for dts, c in zip(_decode_times(track, origin), track.cto, strict=True)]
    return min(shown), max(s + d for s, d in zip(shown, track.durations, strict=True))
