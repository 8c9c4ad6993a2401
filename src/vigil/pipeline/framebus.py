"""The frame bus: a camera's detection frames in shared memory, for other processes.

One file per camera, ``mmap``-ed by vigil (the one writer) and by any number of readers
(an external AI detector, a script). The byte layout is in ``docs/framebus.md``; in short, a
64-byte header, then ``slots`` slots, each a 64-byte slot header and one frame:

    header  0  magic  b"VIGILFB\\0"      slot  0  lock   u64  odd while being written
            8  version u32 (1)                  8  frame  u64  frame number (1, 2, ...)
           12  width   u32                     16  at     f64  stream time, seconds
           16  height  u32                     24  wall   f64  wall time (Unix), or NaN
           20  format  u32 (1 = gray8)         32  (reserved to 64)
           24  slots   u32                     64  pixels, width x height bytes
           28  stride  u32 (bytes per slot)
           32  frame_bytes u32
           40  latest  u64 newest complete frame number (0: none yet)

Frame ``n`` lives in slot ``(n - 1) % slots``. The writer bumps a slot's ``lock`` to odd,
writes the frame, then bumps it to even, and only then publishes ``latest``; a reader reads
``lock``, copies, and reads ``lock`` again, retrying if it was odd or moved (a seqlock).
Readers never take a lock and never return a torn frame; a reader slower than the writer
skips frames and counts them in :attr:`FrameReader.missed`.

The file is preallocated with ``posix_fallocate``, so a full ``/dev/shm`` (64 MiB in a
default container) fails at start with E305 rather than as a SIGBUS on a later write.

This module needs only numpy, so a reader process does not load vigil's server parts.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import hashlib
import math
import mmap
import os
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"VIGILFB\0"
VERSION = 1
FORMAT_GRAY8 = 1
HEADER_BYTES = 64
SLOT_HEADER_BYTES = 64
DEFAULT_SLOTS = 8
SHM_DIR = Path("/dev/shm")  # noqa: S108 (a directory of our own is made in it and checked)

# magic, version, width, height, format, slots, stride, frame_bytes
_HEADER = struct.Struct("<8sIIIIIII")
_LATEST = struct.Struct("<Q")
_LATEST_AT = 40
_SLOT = struct.Struct("<QQdd")  # lock, frame, at, wall


class FrameBusError(OSError):
    """The bus can't be created or read (the writer side reports it as E305)."""


@dataclass(frozen=True, slots=True)
class BusFrame:
    """One frame read from the bus."""

    number: int
    at: float  # stream time, seconds
    wall: float | None  # wall time (Unix seconds), if vigil knew it
    gray: npt.NDArray[np.uint8]  # height x width, a private copy


def bus_path(
    storage_path: str | os.PathLike[str], camera: str, directory: Path | None = None
) -> Path:
    """Where the bus of `camera` lives: ``/dev/shm/vigil-{id}/{camera}.frames``, where the id
    is a hash of the storage path, so two vigil services on one machine don't collide."""
    ident = hashlib.sha256(str(Path(storage_path).resolve()).encode()).hexdigest()[:10]
    return (directory or SHM_DIR) / f"vigil-{ident}" / f"{camera}.frames"


def _own_directory(directory: Path) -> None:
    """Make `directory` (readable by all, writable by us) and check that it is ours and no
    symlink: /dev/shm is shared by every user of the machine."""
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError as err:
        raise FrameBusError(err.errno, f"cannot make {directory}: {err.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise FrameBusError(errno.EPERM, f"{directory} is not a directory of this user")


def _share(fd: int, group: str) -> None:
    """Give the bus file to `group`, readable by its members (0640)."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise FrameBusError(errno.EINVAL, f"no group {group!r} (detect.framebus_group)") from None
    try:
        os.fchown(fd, -1, gid)  # allowed when vigil's user is a member of the group
    except OSError as err:
        raise FrameBusError(
            err.errno, f"cannot give the frame bus to group {group!r}: {err.strerror}"
        ) from None
    os.fchmod(fd, 0o640)


def _stride(frame_bytes: int) -> int:
    return SLOT_HEADER_BYTES + (frame_bytes + 63) // 64 * 64


class FrameBusWriter:
    """Writes one camera's frames; vigil's detect thread is the only writer of a bus."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        slots: int = DEFAULT_SLOTS,
        group: str | None = None,
    ):
        self.path = path
        self.width, self.height, self.slots = width, height, slots
        self.frame_bytes = width * height
        self.stride = _stride(self.frame_bytes)
        size = HEADER_BYTES + slots * self.stride
        _own_directory(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)  # live frames: owner only
        try:
            if group is not None:
                _share(fd, group)
            try:
                os.posix_fallocate(fd, 0, size)  # every page reserved now: no SIGBUS later
            except OSError as err:
                if err.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                    os.ftruncate(fd, size)  # a file system without fallocate
                else:
                    raise
            self._map = mmap.mmap(fd, size)
        except FrameBusError:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        except OSError as err:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise FrameBusError(
                err.errno, f"cannot allocate {size} bytes for the frame bus in {path.parent}"
            ) from None
        os.close(fd)
        _HEADER.pack_into(
            self._map,
            0,
            MAGIC,
            VERSION,
            width,
            height,
            FORMAT_GRAY8,
            slots,
            self.stride,
            self.frame_bytes,
        )
        _LATEST.pack_into(self._map, _LATEST_AT, 0)
        os.replace(tmp, path)  # readers never see a half-made header
        self.latest = 0

    def write(self, gray: npt.NDArray[np.uint8], at: float, wall: float | None) -> int:
        """Publish one frame (height x width uint8); its frame number."""
        if gray.shape != (self.height, self.width):
            raise ValueError(f"frame is {gray.shape}, the bus holds {(self.height, self.width)}")
        number = self.latest + 1
        base = HEADER_BYTES + (number - 1) % self.slots * self.stride
        lock = _SLOT.unpack_from(self._map, base)[0]
        lock += 1 if lock % 2 == 0 else 2  # odd: being written
        _SLOT.pack_into(self._map, base, lock, 0, 0.0, 0.0)
        start = base + SLOT_HEADER_BYTES
        self._map[start : start + self.frame_bytes] = np.ascontiguousarray(gray).data
        _SLOT.pack_into(self._map, base, lock + 1, number, at, math.nan if wall is None else wall)
        _LATEST.pack_into(self._map, _LATEST_AT, number)
        self.latest = number
        return number

    def close(self, unlink: bool = True) -> None:
        self._map.close()
        if unlink:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # other cameras' buses are still there
                self.path.parent.rmdir()


class FrameReader:
    """Reads a camera's frame bus from any process; takes no lock and never blocks vigil.

    >>> reader = FrameReader("/dev/shm/vigil-0123456789/door.frames")
    >>> frame = reader.latest()          # the newest frame, or None
    >>> for frame in reader.follow():    # every frame from now on, as they come
    ...     process(frame.gray)
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        if len(self._map) < HEADER_BYTES:
            raise FrameBusError(errno.EINVAL, f"{self.path} is not a frame bus")
        magic, version, width, height, fmt, slots, stride, frame_bytes = _HEADER.unpack_from(
            self._map, 0
        )
        if magic != MAGIC or version != VERSION or fmt != FORMAT_GRAY8:
            raise FrameBusError(errno.EINVAL, f"{self.path} is not a version {VERSION} frame bus")
        self.width, self.height, self.slots = width, height, slots
        self.stride, self.frame_bytes = stride, frame_bytes
        self.missed = 0  # frames skipped because the writer was faster
        self._next = 0

    @property
    def newest(self) -> int:
        """The number of the newest complete frame (0: none yet)."""
        number: int = _LATEST.unpack_from(self._map, _LATEST_AT)[0]
        return number

    def read(self, number: int) -> BusFrame | None:
        """Frame `number`, or None if it is not written yet or already overwritten."""
        if number < 1:
            return None
        base = HEADER_BYTES + (number - 1) % self.slots * self.stride
        start = base + SLOT_HEADER_BYTES
        while True:
            lock, frame, at, wall = _SLOT.unpack_from(self._map, base)
            if lock % 2:
                time.sleep(0)  # the writer is in this slot: let it finish
                continue
            pixels = np.frombuffer(self._map, np.uint8, self.frame_bytes, start).copy()
            if _SLOT.unpack_from(self._map, base)[0] != lock:
                continue  # written over while copied: try again
            if frame != number:
                return None
            gray = pixels.reshape(self.height, self.width)
            return BusFrame(number, at, None if math.isnan(wall) else wall, gray)

    def latest(self) -> BusFrame | None:
        """The newest frame, or None before the first."""
        while True:
            number = self.newest
            if number == 0:
                return None
            frame = self.read(number)
            if frame is not None:
                return frame  # else lapped between the two reads: take the newer one

    def poll(self) -> list[BusFrame]:
        """Every frame written since the last poll (the first poll starts at the newest);
        frames already overwritten are skipped and counted in :attr:`missed`."""
        newest = self.newest
        if self._next == 0:
            self._next = newest if newest else 1
        frames: list[BusFrame] = []
        while self._next <= newest:
            oldest = max(1, newest - self.slots + 1)
            if self._next < oldest:
                self.missed += oldest - self._next
                self._next = oldest
            frame = self.read(self._next)
            if frame is None:  # overwritten while we read the ones before
                newest = self.newest
                continue
            frames.append(frame)
            self._next += 1
        return frames

    def follow(self, interval: float = 0.01) -> Iterator[BusFrame]:
        """Every new frame, forever, polling every `interval` seconds when there is none."""
        while True:
            frames = self.poll()
            if not frames:
                time.sleep(interval)
            yield from frames

    def close(self) -> None:
        self._map.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
