"""A fragmented MP4 made a fast-start MP4 by its boxes, with no demuxing or muxing.

A segment is written fragmented (``moov`` with no samples, then ``moof``+``mdat`` pairs),
which survives a crash. Closing it turns it into a plain MP4 with ``moov`` first: the
sample tables (``stts``, ``ctts``, ``stss``, ``stsz``, ``stsc``, ``stco``) are rebuilt from
the fragments' ``trun`` boxes. Python touches one small box per fragment, never a packet,
so closing costs the same whatever the bitrate and holds the GIL for little. The sample
descriptions (``stsd``: codec, SPS/PPS, AAC config) are the fragmented file's own, byte for
byte. Each ``trun`` becomes one chunk.

Two ways, the first preferred:

- :func:`finalize_in_place`: the file was written after a reserved ``free`` box; the new
  ``moov`` goes there and the fragments' headers become ``free``. No media data moves.
- :func:`rewrite`: into a new file (``ftyp``, ``moov``, one ``mdat`` holding every
  fragment's data in file order), the media data copied by the kernel
  (``copy_file_range``), one ``mdat`` at a time.

A track that starts after the segment's first frame (audio) gets an empty edit, as
FFmpeg's own muxer writes it.

ISO/IEC 14496-12 names; anything this doesn't understand raises :class:`ValueError`, and
the caller falls back to remuxing with FFmpeg.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf"})
_REBUILT = frozenset({b"stts", b"ctts", b"stss", b"stsz", b"stz2", b"stsc", b"stco", b"co64"})
_NON_SYNC = 0x00010000  # sample_is_non_sync_sample in the sample flags
# tfhd flags
_BASE_DATA_OFFSET, _SAMPLE_DESCRIPTION, _DEFAULT_DURATION = 0x1, 0x2, 0x8
_DEFAULT_SIZE, _DEFAULT_FLAGS, _BASE_IS_MOOF = 0x10, 0x20, 0x20000
# trun flags
_DATA_OFFSET, _FIRST_SAMPLE_FLAGS = 0x1, 0x4
_SAMPLE_DURATION, _SAMPLE_SIZE, _SAMPLE_FLAGS, _SAMPLE_CTO = 0x100, 0x200, 0x400, 0x800
_CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"av01": "av1"}
_CODECS |= {b"vp09": "vp9", b"mp4v": "mpeg4", b"jpeg": "mjpeg", b"mjpa": "mjpeg"}
_U32 = 0xFFFFFFFF
_LITTLE = sys.byteorder == "little"


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What the rewrite learned about the video track, for the index."""

    frames: int
    duration: float  # seconds from the first frame shown to the end of the last
    codec: str


@dataclass
class _Track:
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


def _header(data: bytes | memoryview, at: int, pos: int, end: int) -> tuple[bytes, int, int]:
    """(kind, header length, size) of the box whose header is at data[at:]. The box starts
    at offset `pos` of its file or buffer, and its parent ends at `end`."""
    size, kind = struct.unpack_from(">I4s", data, at)
    head = 8
    if size == 1:
        if len(data) < at + 16:
            raise ValueError("truncated box header")
        (size,) = struct.unpack_from(">Q", data, at + 8)
        head = 16
    elif size == 0:
        size = end - pos
    if size < head or pos + size > end:
        raise ValueError(f"box {kind!r} overruns its parent")
    return kind, head, size


def _boxes(
    data: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """(kind, box start, payload start, box end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        kind, head, size = _header(data, pos, pos, end)
        yield kind, pos, pos + head, pos + size
        pos += size


def _file_boxes(fh: BinaryIO, size: int) -> Iterator[tuple[bytes, int, int, int]]:
    """Top-level boxes of a file, reading only their headers."""
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        kind, head, box_size = _header(fh.read(16), 0, pos, size)
        yield kind, pos, pos + head, pos + box_size
        pos += box_size


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


class _Reader:
    """The fragmented file's tracks and where its media data lies."""

    def __init__(self, path: Path):
        self.ftyp = b""
        self.mvhd = b""
        self.moov_rest: list[bytes] = []  # udta and the like, kept as they are
        self.tracks: dict[int, _Track] = {}
        self.order: list[int] = []
        self.mdats: list[tuple[int, int]] = []  # payload start, end
        self.reserved = 0  # size of a free box at offset 0: room for the moov, in place
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            for kind, start, body, end in _file_boxes(fh, size):
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
        if not self.ftyp or not self.mvhd or not self.tracks:
            raise ValueError("not a fragmented MP4 (no ftyp, mvhd or track)")
        if not any(track.sizes for track in self.tracks.values()):
            raise ValueError("no fragment holds a sample")

    def _moov(self, data: bytes) -> None:
        for kind, start, body, end in _boxes(data):
            if kind == b"mvhd":
                self.mvhd = data[start:end]
            elif kind == b"trak":
                track = _parse_trak(data[start:end])
                self.tracks[track.track_id] = track
                self.order.append(track.track_id)
            elif kind == b"mvex":
                for sub, _s, sbody, _e in _boxes(data, body, end):
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
        for kind, _start, body, end in _boxes(data, 8):
            if kind == b"traf":
                data_end = self._traf(data, body, end, moof_at, data_end)

    def _traf(self, data: bytes, body: int, end: int, moof_at: int, prev_end: int | None) -> int:
        track: _Track | None = None
        base = moof_at if prev_end is None else prev_end
        sdi = dur = size = flags = 0
        pos = base
        for kind, _start, bbody, _end in _boxes(data, body, end):
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


def _jump_to(track: _Track, tfdt: int) -> None:
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
    track: _Track,
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
    number = len(track.sizes) + 1
    if _SAMPLE_FLAGS in column:
        sample_flags = list(column[_SAMPLE_FLAGS])
        if first_flags is not None and count:
            sample_flags[0] = first_flags
        track.sync.extend(number + i for i, f in enumerate(sample_flags) if not f & _NON_SYNC)
    else:
        if first_flags is not None and count and not first_flags & _NON_SYNC:
            track.sync.append(number)
        if not flags & _NON_SYNC:
            track.sync.extend(range(number + (first_flags is not None), number + count))
    track.durations.extend(durations)
    track.sizes.extend(sizes)
    track.cto.extend(cto)
    track.next_dts += sum(durations)
    if count:
        track.chunks.append((pos, count, sdi))
    return pos + sum(sizes)


def _parse_trak(trak: bytes) -> _Track:
    track: _Track | None = None
    timescale, handler, codec = 0, b"", ""
    edits: list[tuple[int, int]] = []
    for kind, _start, body, end in _walk(trak):
        if kind == b"tkhd":
            version = trak[body]
            (tid,) = struct.unpack_from(">I", trak, body + (20 if version == 1 else 12))
            track = _Track(tid)
        elif kind == b"mdhd":
            version = trak[body]
            (timescale,) = struct.unpack_from(">I", trak, body + (20 if version == 1 else 12))
        elif kind == b"hdlr":
            handler = trak[body + 8 : body + 12]
        elif kind == b"elst":
            edits = _parse_elst(trak, body)
        elif kind == b"stsd" and end - body >= 16:
            codec = _CODECS.get(trak[body + 12 : body + 16], trak[body + 12 : body + 16].decode())
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


def _walk(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """Every box under data[start:end], depth first, into the containers this module knows."""
    for kind, bstart, body, bend in _boxes(data, start, end):
        yield kind, bstart, body, bend
        if kind in _CONTAINERS:
            yield from _walk(data, body, bend)


# -- writing ---------------------------------------------------------------------------------


def _run_length(values: array[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value:
            runs[-1] = (runs[-1][0] + 1, value)
        else:
            runs.append((1, value))
    return runs


def _sample_tables(track: _Track, chunk_offsets: list[int]) -> bytes:
    n = len(track.sizes)
    stts_runs = _run_length(track.durations)
    tables = [
        _full_box(
            b"stts",
            0,
            0,
            struct.pack(
                f">I{2 * len(stts_runs)}I", len(stts_runs), *[x for run in stts_runs for x in run]
            ),
        )
    ]
    if any(track.cto):
        runs = _run_length(track.cto)
        version = 1 if min(track.cto) < 0 else 0
        fmt = "Ii" if version else "II"
        tables.append(
            _full_box(
                b"ctts",
                version,
                0,
                struct.pack(">I", len(runs)),
                b"".join(struct.pack(">" + fmt, *run) for run in runs),
            )
        )
    if len(track.sync) != n:
        tables.append(
            _full_box(
                b"stss", 0, 0, struct.pack(f">I{len(track.sync)}I", len(track.sync), *track.sync)
            )
        )
    if n and min(track.sizes) == max(track.sizes):
        tables.append(_full_box(b"stsz", 0, 0, struct.pack(">II", track.sizes[0], n)))
    else:
        tables.append(_full_box(b"stsz", 0, 0, struct.pack(f">II{n}I", 0, n, *track.sizes)))
    stsc: list[tuple[int, int, int]] = []
    for number, (_src, count, sdi) in enumerate(track.chunks, 1):
        if not stsc or stsc[-1][1:] != (count, sdi):
            stsc.append((number, count, sdi))
    tables.append(
        _full_box(
            b"stsc",
            0,
            0,
            struct.pack(f">I{3 * len(stsc)}I", len(stsc), *[x for e in stsc for x in e]),
        )
    )
    m = len(chunk_offsets)
    if chunk_offsets and max(chunk_offsets) > _U32:
        tables.append(_full_box(b"co64", 0, 0, struct.pack(f">I{m}Q", m, *chunk_offsets)))
    else:
        tables.append(_full_box(b"stco", 0, 0, struct.pack(f">I{m}I", m, *chunk_offsets)))
    return b"".join(tables)


def _with_duration(box: bytes, offset_v0: int, offset_v1: int, value: int) -> bytes:
    """A copy of a full box (mvhd, tkhd, mdhd) with its duration field set."""
    version = box[8]
    out = bytearray(box)
    if version == 1:
        struct.pack_into(">Q", out, 8 + offset_v1, value)
    else:
        if value > _U32:
            raise ValueError("duration too long for a version 0 box")
        struct.pack_into(">I", out, 8 + offset_v0, value)
    return bytes(out)


def _rebuild(
    data: bytes, start: int, end: int, replace: dict[bytes, bytes], tables: bytes
) -> bytes:
    """Box data[start:end] rebuilt with its known children replaced: stbl's tables by
    `tables`, mvhd/tkhd/mdhd by the copies in `replace`, edts by replace[b'edts']."""
    kind, _s, body, _e = next(_boxes(data, start, end))
    parts: list[bytes] = []
    for sub, sstart, _sbody, send in _boxes(data, body, end):
        if sub in _REBUILT or sub == b"edts":
            continue
        if sub in replace:
            parts.append(replace[sub])
            if sub == b"tkhd" and b"edts" in replace:
                parts.append(replace[b"edts"])
        elif sub in _CONTAINERS:
            parts.append(_rebuild(data, sstart, send, replace, tables))
        else:
            parts.append(data[sstart:send])
        if sub == b"stsd":
            parts.append(tables)
    return _box(kind, *parts)


def _trak(track: _Track, chunk_offsets: list[int], movie_scale: int) -> tuple[bytes, int]:
    """The track's box with its sample tables and durations; and its duration in movie units."""
    media = sum(track.durations)
    edits = _edits(track, movie_scale)
    total = sum(d for d, _t in edits) if edits else media * movie_scale // track.timescale
    replace: dict[bytes, bytes] = {}
    if edits:
        large = any(d > _U32 or t > 0x7FFFFFFF for d, t in edits)
        entry = ">QqI" if large else ">IiI"
        elst = _full_box(
            b"elst",
            1 if large else 0,
            0,
            struct.pack(">I", len(edits)),
            b"".join(struct.pack(entry, d, t, 0x00010000) for d, t in edits),
        )
        replace[b"edts"] = _box(b"edts", elst)
    # the duration field's offset in the payload, version 0 and 1: tkhd 20/28, mdhd 16/24
    trak = track.trak
    for kind, bstart, _b, bend in _walk(trak):
        if kind == b"tkhd":
            replace[b"tkhd"] = _with_duration(trak[bstart:bend], 20, 28, total)
        elif kind == b"mdhd":
            replace[b"mdhd"] = _with_duration(trak[bstart:bend], 16, 24, media)
    return _rebuild(trak, 0, len(trak), replace, _sample_tables(track, chunk_offsets)), total


def _edits(track: _Track, movie_scale: int) -> list[tuple[int, int]]:
    """The fast-start file's edit list: the fragmented file's timeline, kept exactly.

    FFmpeg writes the fragmented file's edits (``delay_moov``) before it knows how long
    the track is, so a media edit lasts 0 (to the end); here it gets its real length. A
    track with no edits but a late first fragment (``tfdt`` > 0) waits in an empty edit.
    """

    def movie(ticks: int) -> int:
        return ticks * movie_scale // track.timescale

    delay = track.first_dts or 0
    if track.edits:
        if delay:
            raise ValueError("a track with an edit list starts at a nonzero decode time")
        _first, end = _presentation(track)
        return [
            (
                movie(max(0, end - media_time)) if not duration and media_time >= 0 else duration,
                media_time,
            )
            for duration, media_time in track.edits
        ]
    if delay > 0:
        _first, end = _presentation(track, delay)
        return [(movie(delay), -1), (movie(end), 0)]
    return []


def rewrite(partial: Path, out: Path) -> Rewritten:
    """Write the fast-start MP4 of fragmented `partial` to `out` (not fsynced)."""
    src = _Reader(partial)
    # where each source mdat's payload lands in the output's one mdat, relative to its start
    starts = [begin for begin, _end in src.mdats]
    landing, payload = [], 0
    for begin, end in src.mdats:
        landing.append(payload)
        payload += end - begin

    def moved(offset: int) -> int:
        i = bisect_right(starts, offset) - 1
        if i < 0 or offset >= src.mdats[i][1]:
            raise ValueError("a fragment's samples lie outside every mdat")
        return landing[i] + offset - starts[i]

    relative = {tid: [moved(c[0]) for c in t.chunks] for tid, t in src.tracks.items()}
    big = payload + 8 > _U32
    mdat_head = (
        struct.pack(">I4sQ", 1, b"mdat", payload + 16)
        if big
        else struct.pack(">I4s", payload + 8, b"mdat")
    )

    def moov(base: int) -> bytes:
        return _movie(src, {tid: [base + r for r in rel] for tid, rel in relative.items()})

    draft = moov(0)
    base = len(src.ftyp) + len(draft) + len(mdat_head)
    final = moov(base)
    if len(final) != len(draft):  # the offsets crossed 4 GiB: stco became co64
        base = len(src.ftyp) + len(final) + len(mdat_head)
        final = moov(base)
    with partial.open("rb") as fin, out.open("wb") as fout:
        fout.write(src.ftyp + final + mdat_head)
        fout.flush()
        for begin, end in src.mdats:
            _copy(fin.fileno(), fout.fileno(), begin, end - begin)
    return _summary(src)


def _movie(src: _Reader, offsets: dict[int, list[int]]) -> bytes:
    """The fast-start moov of `src`, each track's chunks at the given file offsets."""
    movie_scale = struct.unpack_from(">I", src.mvhd, 8 + (20 if src.mvhd[8] == 1 else 12))[0]
    traks, longest = [], 0
    for tid in src.order:
        box, total = _trak(src.tracks[tid], offsets[tid], movie_scale)
        traks.append(box)
        longest = max(longest, total)
    mvhd = _with_duration(src.mvhd, 16, 24, longest)
    return _box(b"moov", mvhd, *traks, *src.moov_rest)


def _summary(src: _Reader) -> Rewritten:
    video = next((t for t in src.tracks.values() if t.handler == b"vide"), None)
    if video is None or not video.sizes:
        return Rewritten(0, 0.0, video.codec if video else "")
    first, last = _presentation(video)
    return Rewritten(len(video.sizes), (last - first) / video.timescale, video.codec)


# ---- in place: no copy ----------------------------------------------------------------
#
# A segment is written after a reserved free box (see `reservation`):
#
#     free(R) ftyp moov(fragmented) moof mdat moof mdat ...
#
# and finished where it lies, in three steps, each leaving a file that recovery can finish:
#
# 1. the draft: ftyp, the fast-start moov (chunk offsets: the mdats' payloads, which don't
#    move) and a free box for the rest of R, written *inside* the reserved box's body, and
#    fsynced. The file is still the fragmented one (the draft is hidden in a free box).
# 2. the commit: the draft's first 8 bytes over the reserved box's header, one write. From
#    here the file opens as ftyp, moov (with every sample), free...
# 3. every box after that moov but the mdats (the old ftyp and moov, the moofs) is renamed
#    "free", so no reader takes the fragments for more samples.
#
# A crash before 2 leaves the fragmented file; after 2, :func:`finish_committed` redoes 3.
# Nothing is copied: the media data is written once.

RESERVE_BASE = 8192  # bytes: ftyp, mvhd, two tracks' sample descriptions and edits
# bytes a second of segment: 30 fps video takes about 150 (sizes, sync samples, a chunk
# per fragment), AAC 250 more; 60 fps with B-frames (composition offsets) and AAC about
# 1000. Room not used is a hole in the file: no disk block is spent on it.
RESERVE_PER_SECOND = 1024
_BLOCK = 4096


def reservation(seconds: float) -> int:
    """Bytes to reserve for the moov of a segment of about `seconds` (whole blocks)."""
    wanted = RESERVE_BASE + RESERVE_PER_SECOND * max(seconds, 1.0)
    return int(-(-wanted // _BLOCK) * _BLOCK)


def reserved_header(size: int) -> bytes:
    """The free box header that opens a segment file, reserving `size` bytes."""
    return struct.pack(">I4s", size, b"free")


def finalize_in_place(path: Path) -> Rewritten | None:
    """Make fragmented `path` fast-start where it lies (see above); not fsynced at the end.

    None, with the file untouched, if it has no reserved box or its moov doesn't fit (the
    caller then rewrites it into a new file). Raises ValueError as :func:`rewrite` does.
    """
    src = _Reader(path)
    if not src.reserved:
        return None
    offsets = {tid: [c[0] for c in t.chunks] for tid, t in src.tracks.items()}
    head = src.ftyp + _movie(src, offsets)
    moov_end = len(head)
    room = src.reserved - len(head)
    if room == 0:
        pass
    elif room >= 8:
        head += struct.pack(">I4s", room, b"free")
    else:
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, head[8:], 8)  # 1. the draft, inside the reserved box
        os.fsync(fd)
        os.pwrite(fd, head[:8], 0)  # 2. the commit
        _retire_fragments(fd, moov_end)  # 3.
    finally:
        os.close(fd)
    return _summary(src)


def committed(path: Path) -> bool:
    """Whether `path` is a segment whose in-place finalize was committed (step 2 done):
    it opens with ftyp and a moov that describes its samples itself (no mvex)."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        boxes = _file_boxes(fh, size)
        first = next(boxes, None)
        second = next(boxes, None)
        if first is None or second is None or first[0] != b"ftyp" or second[0] != b"moov":
            return False
        _kind, _start, body, end = second
        fh.seek(body)
        data = fh.read(end - body)
    return all(kind != b"mvex" for kind, *_ in _boxes(data))


def finish_committed(path: Path) -> None:
    """Redo step 3 on a committed segment (idempotent): the fragments' boxes become free."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        boxes = _file_boxes(fh, size)
        next(boxes)  # ftyp
        _kind, _start, _body, moov_end = next(boxes)
    fd = os.open(path, os.O_RDWR)
    try:
        _retire_fragments(fd, moov_end)
    finally:
        os.close(fd)


def _retire_fragments(fd: int, start: int) -> None:
    """Rename every top-level box from `start` on, but mdat and free, to free."""
    size = os.fstat(fd).st_size
    pos = start
    while pos + 8 <= size:
        kind, _head, box_size = _header(os.pread(fd, 16, pos), 0, pos, size)
        if kind not in (b"mdat", b"free"):
            os.pwrite(fd, b"free", pos + 4)
        pos += box_size


def _decode_times(track: _Track, origin: int = 0) -> Iterator[int]:
    dts = (track.first_dts or 0) - origin
    for d in track.durations:
        yield dts
        dts += d


def _presentation(track: _Track, origin: int = 0) -> tuple[int, int]:
    """When the track's first sample is shown and its last one ends, from `origin`."""
    if not track.sizes:
        return 0, 0
    start = (track.first_dts or 0) - origin
    if not any(track.cto):
        return start, start + sum(track.durations)
    shown = [dts + c for dts, c in zip(_decode_times(track, origin), track.cto, strict=True)]
    return min(shown), max(s + d for s, d in zip(shown, track.durations, strict=True))


def _copy(src: int, dst: int, offset: int, count: int) -> None:
    """Append src[offset:offset+count] to dst: in the kernel where it can, else by reads."""
    while count > 0:
        try:
            done = os.copy_file_range(src, dst, count, offset)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            break
        if done == 0:
            raise ValueError("the fragmented file ended inside an mdat")
        offset += done
        count -= done
    while count > 0:
        chunk = os.pread(src, min(count, 1 << 20), offset)
        if not chunk:
            raise ValueError("the fragmented file ended inside an mdat")
        os.write(dst, chunk)
        offset += len(chunk)
        count -= len(chunk)
