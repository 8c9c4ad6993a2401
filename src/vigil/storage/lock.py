"""One vigil per storage: an exclusive lock on the storage folder and on the database.

A second ``vigil run`` on the same storage would recover (truncate) the first one's open
segments and write into its index. Each of the two places gets a ``.vigil.lock`` file held
with ``flock`` for the life of the process; the kernel drops it when the process ends, a
kill -9 included, so there is no stale lock to clean up.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from pathlib import Path

from vigil.errors import StorageError

LOCK_NAME = ".vigil.lock"


class InstanceLock:
    """Hold the lock files in `folders` (made if needed); E410 if another process holds one."""

    def __init__(self, folders: Iterable[Path]):
        self._fds: list[int] = []
        seen: set[Path] = set()
        try:
            for folder in folders:
                path = (folder / LOCK_NAME).resolve()
                if path in seen:
                    continue
                seen.add(path)
                self._take(path)
        except BaseException:
            self.release()
            raise

    def _take(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(
                f"another vigil holds {path}: one vigil per storage folder and database",
                code="E410",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fds.append(fd)

    @property
    def fds(self) -> tuple[int, ...]:
        """The locked files' descriptors: a worker process holds them too (the lock is the
        open file's, so it lasts until the last process holding it ends)."""
        return tuple(self._fds)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
