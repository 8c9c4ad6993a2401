"""What kind of filesystem a path is on: SQLite must not sit on a network share.

SQLite's locking (and WAL's shared memory) is unreliable over NFS and SMB, so the index on a
share risks corruption. Recordings may live there; the database belongs on a local disk
(``storage.db_path``). Read from ``/proc/mounts``; elsewhere the answer is "unknown".
"""

from __future__ import annotations

import os
from pathlib import Path

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "ceph", "glusterfs", "fuse.sshfs"}
)
MOUNTS = Path("/proc/mounts")


def _unescape(field: str) -> str:
    """/proc/mounts writes a space in a path as \\040 (octal)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem holding `path` (its longest mount point), or None."""
    if mounts is None:
        try:
            mounts = MOUNTS.read_text()
        except OSError:
            return None
    target = Path(os.path.abspath(path))
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(_unescape(fields[1]))
        if target == point or point in target.parents:
            depth = len(point.parts)
            if best is None or depth >= best[0]:
                best = (depth, fields[2])
    return None if best is None else best[1]


def is_network(path: Path, mounts: str | None = None) -> bool:
    kind = filesystem_type(path, mounts)
    return kind is not None and kind in NETWORK_FILESYSTEMS
