"""Which storage folder this is: a marker file that the database also records.

An NVR's worst morning is the one after its recordings disk failed to mount: the folder is
still there, empty, on the system disk. Without a check, recovery would find every file
gone and new footage would fill the system disk. So the storage folder holds a marker,
``.vigil-storage-id`` (a UUID), and the database keeps the same id. At start:

- the database knows no id: a first start (or one from before markers), so the folder's
  marker is made if it has none, and recorded;
- the ids match: the folder is the one the index describes;
- the folder has no marker, or another one: :func:`check_storage` returns E409, and the
  server records nothing there and leaves the index alone.

``vigil storage adopt`` records a folder's marker on purpose (a new, empty disk).
(Moonfire keeps a UUID in each sample directory and in its database for the same reason.)
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from vigil.errors import StorageError
from vigil.storage.index import Index

MARKER = ".vigil-storage-id"
KEY = "storage_id"


def read_marker(root: Path) -> str | None:
    """The folder's id, or None where it has no marker (or isn't there)."""
    try:
        text = (root / MARKER).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as err:
        raise StorageError(f"cannot read {root / MARKER}: {err}", code="E401") from None
    return text or None


def write_marker(root: Path) -> str:
    """Give `root` a new marker, durably (file and folder fsynced); its id."""
    root.mkdir(parents=True, exist_ok=True)
    ident = str(uuid.uuid4())
    tmp = root / f"{MARKER}.tmp"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(ident + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / MARKER)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return ident


def check_storage(root: Path, index: Index) -> StorageError | None:
    """None if `root` is the storage `index` describes (recording the marker at a first
    start); else the E409 to report, with the index untouched."""
    expected = index.meta(KEY)
    try:
        found = read_marker(root)
    except StorageError as err:
        return err
    if expected is None:
        index.set_meta(KEY, found if found is not None else write_marker(root))
        return None
    if found == expected:
        return None
    if found is None:
        where = "is missing" if not root.exists() else "holds no marker"
        return StorageError(
            f"the storage folder {root} {where}; the index expects storage {expected[:8]}: "
            "is its disk mounted?",
            code="E409",
        )
    return StorageError(
        f"the storage folder {root} is storage {found[:8]}, not {expected[:8]} that the "
        "index describes",
        code="E409",
    )


def adopt(root: Path, index: Index) -> str:
    """Make `root` the index's storage (its marker, made if it has none); the id."""
    found = read_marker(root)
    ident = found if found is not None else write_marker(root)
    index.set_meta(KEY, ident)
    return ident
