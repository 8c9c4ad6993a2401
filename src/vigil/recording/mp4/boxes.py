"""MP4 boxes: their headers read from a buffer or a file, written, and walked into."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf"})
REBUILT = frozenset({b"stts", b"ctts", b"stss", b"stsz", b"stz2", b"stsc", b"stco", b"co64"})
U32 = 0xFFFFFFFF


def header(data: bytes | memoryview, at: int, pos: int, end: int) -> tuple[bytes, int, int]:
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


def boxes(
    data: bytes | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """(kind, box start, payload start, box end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        kind, head, size = header(data, pos, pos, end)
        yield kind, pos, pos + head, pos + size
        pos += size


def file_boxes(fh: BinaryIO, size: int) -> Iterator[tuple[bytes, int, int, int]]:
    """Top-level boxes of a file, reading only their headers."""
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        kind, head, box_size = header(fh.read(16), 0, pos, size)
        yield kind, pos, pos + head, pos + box_size
        pos += box_size


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def walk(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """Every box under data[start:end], depth first, into the containers this module knows."""
    for kind, bstart, body, bend in boxes(data, start, end):
        yield kind, bstart, body, bend
        if kind in CONTAINERS:
            yield from walk(data, body, bend)
