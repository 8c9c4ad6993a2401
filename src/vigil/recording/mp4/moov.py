"""The fast-start ``moov`` of a fragmented file's samples: sample tables (``stts``, ``ctts``,
``stss``, ``stsz``, ``stsc``, ``stco``/``co64``, each ``trun`` one chunk), durations and the
edit list, with the sample descriptions (``stsd``: codec, SPS/PPS, AAC config) byte for byte.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from vigil.recording.mp4.boxes import CONTAINERS, REBUILT, U32, box, boxes, full_box, walk
from vigil.recording.mp4.fragments import FragmentedFile, Track, presentation


@dataclass(frozen=True, slots=True)
class Rewritten:
    """What the rewrite learned about the video track, for the index."""

    frames: int
    duration: float  # seconds from the first frame shown to the end of the last
    codec: str


def _run_length(values: array[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value:
            runs[-1] = (runs[-1][0] + 1, value)
        else:
            runs.append((1, value))
    return runs


def sample_tables(track: Track, chunk_offsets: list[int]) -> bytes:
    n = len(track.sizes)
    stts_runs = _run_length(track.durations)
    tables = [
        full_box(
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
            full_box(
                b"ctts",
                version,
                0,
                struct.pack(">I", len(runs)),
                b"".join(struct.pack(">" + fmt, *run) for run in runs),
            )
        )
    if len(track.sync) != n:
        tables.append(
            full_box(
                b"stss", 0, 0, struct.pack(f">I{len(track.sync)}I", len(track.sync), *track.sync)
            )
        )
    if n and min(track.sizes) == max(track.sizes):
        tables.append(full_box(b"stsz", 0, 0, struct.pack(">II", track.sizes[0], n)))
    else:
        tables.append(full_box(b"stsz", 0, 0, struct.pack(f">II{n}I", 0, n, *track.sizes)))
    stsc: list[tuple[int, int, int]] = []
    for number, (_src, count, sdi) in enumerate(track.chunks, 1):
        if not stsc or stsc[-1][1:] != (count, sdi):
            stsc.append((number, count, sdi))
    tables.append(
        full_box(
            b"stsc",
            0,
            0,
            struct.pack(f">I{3 * len(stsc)}I", len(stsc), *[x for e in stsc for x in e]),
        )
    )
    m = len(chunk_offsets)
    if chunk_offsets and max(chunk_offsets) > U32:
        tables.append(full_box(b"co64", 0, 0, struct.pack(f">I{m}Q", m, *chunk_offsets)))
    else:
        tables.append(full_box(b"stco", 0, 0, struct.pack(f">I{m}I", m, *chunk_offsets)))
    return b"".join(tables)


def with_duration(full: bytes, offset_v0: int, offset_v1: int, value: int) -> bytes:
    """A copy of a full box (mvhd, tkhd, mdhd) with its duration field set."""
    version = full[8]
    out = bytearray(full)
    if version == 1:
        struct.pack_into(">Q", out, 8 + offset_v1, value)
    else:
        if value > U32:
            raise ValueError("duration too long for a version 0 box")
        struct.pack_into(">I", out, 8 + offset_v0, value)
    return bytes(out)


def _rebuild(
    data: bytes, start: int, end: int, replace: dict[bytes, bytes], tables: bytes
) -> bytes:
    """Box data[start:end] rebuilt with its known children replaced: stbl's tables by
    `tables`, mvhd/tkhd/mdhd by the copies in `replace`, edts by replace[b'edts']."""
    kind, _s, body, _e = next(boxes(data, start, end))
    parts: list[bytes] = []
    for sub, sstart, _sbody, send in boxes(data, body, end):
        if sub in REBUILT or sub == b"edts":
            continue
        if sub in replace:
            parts.append(replace[sub])
            if sub == b"tkhd" and b"edts" in replace:
                parts.append(replace[b"edts"])
        elif sub in CONTAINERS:
            parts.append(_rebuild(data, sstart, send, replace, tables))
        else:
            parts.append(data[sstart:send])
        if sub == b"stsd":
            parts.append(tables)
    return box(kind, *parts)


def _trak(track: Track, chunk_offsets: list[int], movie_scale: int) -> tuple[bytes, int]:
    """The track's box with its sample tables and durations; and its duration in movie units."""
    media = sum(track.durations)
    edits = _edits(track, movie_scale)
    total = sum(d for d, _t in edits) if edits else media * movie_scale // track.timescale
    replace: dict[bytes, bytes] = {}
    if edits:
        large = any(d > U32 or t > 0x7FFFFFFF for d, t in edits)
        entry = ">QqI" if large else ">IiI"
        elst = full_box(
            b"elst",
            1 if large else 0,
            0,
            struct.pack(">I", len(edits)),
            b"".join(struct.pack(entry, d, t, 0x00010000) for d, t in edits),
        )
        replace[b"edts"] = box(b"edts", elst)
    # the duration field's offset in the payload, version 0 and 1: tkhd 20/28, mdhd 16/24
    trak = track.trak
    for kind, bstart, _b, bend in walk(trak):
        if kind == b"tkhd":
            replace[b"tkhd"] = with_duration(trak[bstart:bend], 20, 28, total)
        elif kind == b"mdhd":
            replace[b"mdhd"] = with_duration(trak[bstart:bend], 16, 24, media)
    return _rebuild(trak, 0, len(trak), replace, sample_tables(track, chunk_offsets)), total


def _edits(track: Track, movie_scale: int) -> list[tuple[int, int]]:
    """The fast-start file's edit list: the fragmented file's timeline, kept exactly.

    FFmpeg writes the fragmented file's edits (``delay_moov``) before it knows how long
    the track is, so a media edit lasts 0 (to the end); here it gets its real length. A
    track with no edits but a late first fragment (``tfdt`` > 0) waits in an empty edit.
    """

    def in_movie(ticks: int) -> int:
        return ticks * movie_scale // track.timescale

    delay = track.first_dts or 0
    if track.edits:
        if delay:
            raise ValueError("a track with an edit list starts at a nonzero decode time")
        _first, end = presentation(track)
        return [
            (
                in_movie(max(0, end - media_time))
                if not duration and media_time >= 0
                else duration,
                media_time,
            )
            for duration, media_time in track.edits
        ]
    if delay > 0:
        _first, end = presentation(track, delay)
        return [(in_movie(delay), -1), (in_movie(end), 0)]
    return []


def movie(src: FragmentedFile, offsets: dict[int, list[int]]) -> bytes:
    """The fast-start moov of `src`, each track's chunks at the given file offsets."""
    movie_scale = struct.unpack_from(">I", src.mvhd, 8 + (20 if src.mvhd[8] == 1 else 12))[0]
    traks, longest = [], 0
    for tid in src.order:
        trak, total = _trak(src.tracks[tid], offsets[tid], movie_scale)
        traks.append(trak)
        longest = max(longest, total)
    mvhd = with_duration(src.mvhd, 16, 24, longest)
    return box(b"moov", mvhd, *traks, *src.moov_rest)


def summary(src: FragmentedFile) -> Rewritten:
    video = next((t for t in src.tracks.values() if t.handler == b"vide"), None)
    if video is None or not video.sizes:
        return Rewritten(0, 0.0, video.codec if video else "")
    first, last = presentation(video)
    return Rewritten(len(video.sizes), (last - first) / video.timescale, video.codec)
