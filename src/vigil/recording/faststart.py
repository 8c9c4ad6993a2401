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
from bisect import bisect_right
from pathlib import Path

from vigil.recording.mp4.boxes import U32, boxes, file_boxes, header
from vigil.recording.mp4.fragments import FragmentedFile
from vigil.recording.mp4.moov import Rewritten, movie, summary

__all__ = [
    "Rewritten",
    "committed",
    "finalize_in_place",
    "finish_committed",
    "reservation",
    "reserved_header",
    "rewrite",
]


def rewrite(partial: Path, out: Path) -> Rewritten:
    """Write the fast-start MP4 of fragmented `partial` to `out` (not fsynced)."""
    src = FragmentedFile(partial)
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
    big = payload + 8 > U32
    mdat_head = (
        struct.pack(">I4sQ", 1, b"mdat", payload + 16)
        if big
        else struct.pack(">I4s", payload + 8, b"mdat")
    )

    def moov(base: int) -> bytes:
        return movie(src, {tid: [base + r for r in rel] for tid, rel in relative.items()})

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
    return summary(src)


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
    src = FragmentedFile(path)
    if not src.reserved:
        return None
    offsets = {tid: [c[0] for c in t.chunks] for tid, t in src.tracks.items()}
    head = src.ftyp + movie(src, offsets)
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
    return summary(src)


def committed(path: Path) -> bool:
    """Whether `path` is a segment whose in-place finalize was committed (step 2 done):
    it opens with ftyp and a moov that describes its samples itself (no mvex)."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        top = file_boxes(fh, size)
        first = next(top, None)
        second = next(top, None)
        if first is None or second is None or first[0] != b"ftyp" or second[0] != b"moov":
            return False
        _kind, _start, body, end = second
        fh.seek(body)
        data = fh.read(end - body)
    return all(kind != b"mvex" for kind, *_ in boxes(data))


def finish_committed(path: Path) -> None:
    """Redo step 3 on a committed segment (idempotent): the fragments' boxes become free."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        top = file_boxes(fh, size)
        next(top)  # ftyp
        _kind, _start, _body, moov_end = next(top)
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
        kind, _head, box_size = header(os.pread(fd, 16, pos), 0, pos, size)
        if kind not in (b"mdat", b"free"):
            os.pwrite(fd, b"free", pos + 4)
        pos += box_size


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


def whole_fragments_end(path: Path) -> int:
    """The byte offset just past the last complete top-level box ending a fragment (mdat)."""
    size = path.stat().st_size
    end_of_data = 0
    offset = 0
    with path.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            box_size, kind = struct.unpack(">I4s", fh.read(8))
            if box_size == 1:
                box_size = struct.unpack(">Q", fh.read(8))[0]
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8 or offset + box_size > size:
                break  # the box the crash cut short
            offset += box_size
            if kind == b"mdat":
                end_of_data = offset
    return end_of_data


def cut_to_whole_fragments(path: Path) -> int:
    """Truncate `path` after its last whole fragment (a crash, or a write the disk refused,
    leaves part of one at the end); the bytes kept, 0 if no fragment was whole."""
    end = whole_fragments_end(path)
    if end:
        os.truncate(path, end)
    return end
