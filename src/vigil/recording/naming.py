"""Where a segment lives: ``recordings/{camera}/{YYYY-MM-DD}/{HH}/{start}.mp4``, in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from vigil.recording.segment import PARTIAL_SUFFIX

RECORDINGS = "recordings"
QUARANTINE = "quarantine"
_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


def stamp(t: float) -> str:
    """``20261125T031500Z`` for a Unix time."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%dT%H%M%SZ")


def segment_path(root: Path, camera: str, start: float) -> Path:
    """A path for a new segment that no existing file (whole or partial) has."""
    when = datetime.fromtimestamp(start, UTC)
    folder = root / RECORDINGS / camera / when.strftime("%Y-%m-%d") / when.strftime("%H")
    base = stamp(start)
    n = 0
    while True:
        name = base if n == 0 else f"{base}-{n}"
        path = folder / f"{name}.mp4"
        if not path.exists() and not (folder / f"{name}{PARTIAL_SUFFIX}").exists():
            return path
        n += 1


def start_of(path: Path) -> float | None:
    """The start time a segment's file name holds, or None if it is not one of ours."""
    name = path.name.removesuffix(PARTIAL_SUFFIX).removesuffix(".mp4")
    match = _NAME.match(name)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
