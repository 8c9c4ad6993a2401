"""At start, make the disk and the index agree again after a crash.

- A partial (fragmented) segment is truncated to its last whole fragment, finalized as on
  a normal close, and indexed; one that can't be read goes to ``quarantine/`` (E403).
- A complete segment without a row is probed and indexed (idempotently: a row of the same
  path is kept).
- A row whose file is gone is marked missing and counted, never deleted: a disk that is
  back (or a file restored) clears the mark at the next start. Retention removes such rows
  at their time, like any other.

Nothing here stops a start: a file that can't be read, recovered or moved is reported
with its code and left, and the rest goes on. Renames are followed by an fsync of their
folder, so that a power loss after a start can't bring the old names back.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import shutil
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from vigil.errors import StorageError
from vigil.recording.faststart import cut_to_whole_fragments
from vigil.recording.naming import QUARANTINE, RECORDINGS, start_of
from vigil.recording.recorder import RecordingContext
from vigil.recording.segment import (
    NO_PROBE,
    PARTIAL_SUFFIX,
    START_TAG,
    ClosedSegment,
    finalize,
    fsync_directory,
    index_segment,
)
from vigil.storage.index import Index, Page

_log = logging.getLogger(__name__)
# what reading a damaged file may raise: FFmpeg's errors, the OS's, and the box parsers'
# (a truncated 64-bit box size overflows; a short header is a struct.error)
_ERRORS = (
    av.error.FFmpegError,
    OSError,
    ValueError,
    IndexError,
    StopIteration,
    OverflowError,
    struct.error,
)


@dataclass
class Reconciled:
    recovered: int = 0
    quarantined: int = 0
    indexed: int = 0
    missing: int = 0  # rows whose file isn't there (marked, kept)
    found_again: int = 0  # rows marked missing whose file is back
    failed: int = 0  # files neither recovered nor quarantined (reported, left as they are)
    discarded: int = 0  # partial files with no whole fragment: nothing to save


def recorded_start(path: Path) -> float | None:
    """The start its writer gave the segment at `path` (see :data:`START_TAG`), or None."""
    try:
        with av.open(str(path), options=NO_PROBE) as container:
            tag = container.metadata.get("comment", "")
    except (av.error.FFmpegError, OSError):
        return None
    if not tag.startswith(START_TAG):
        return None
    try:
        return float(tag.removeprefix(START_TAG))
    except ValueError:
        return None


def reconcile(
    root: Path,
    index: Index,
    log: logging.Logger = _log,
    cameras: Collection[str] | None = None,
) -> Reconciled:
    """Recover partial segments, index orphans, and mark rows of missing files: of every
    camera, or only of `cameras` (those of a worker that died, while the others record)."""
    result = Reconciled()
    top = root / RECORDINGS
    folders = [top] if cameras is None else [top / name for name in sorted(cameras)]
    for folder in (f for f in folders if f.exists()):
        for leftover in folder.rglob(".*.tmp.mp4"):
            leftover.unlink(missing_ok=True)  # an interrupted finalize: its partial remains
        partials = sorted(folder.rglob(f"*{PARTIAL_SUFFIX}"))  # per camera, in time order
        for partial, after in itertools.zip_longest(partials, partials[1:]):
            # a segment finished but not yet finalized when the process died, and the one
            # opened after it: the first ends where the second starts, as its writer said
            # (a file's duration rounds, and may reach past it by a fraction of a frame)
            same = after is not None and _camera_of(root, after) == _camera_of(root, partial)
            cap = recorded_start(after) if same else None
            _guarded(functools.partial(_recover, cap=cap), root, partial, index, result, log)
        for path in sorted(folder.rglob("*.mp4")):
            if path.name.endswith(PARTIAL_SUFFIX) or path.name.startswith("."):
                continue
            if not index.has_path(str(path.relative_to(root))):
                _guarded(_index_orphan, root, path, index, result, log)
    gone, back = [], []
    rows = index.segments()
    for row in rows if cameras is None else [r for r in rows if r.camera in cameras]:
        present = (root / row.path).exists()
        if not present and not row.missing:
            gone.append(row)
        elif present and row.missing:
            back.append(row.id)
    if gone:
        index.set_missing([row.id for row in gone])
        for row in gone[:5]:
            log.warning("segment %s is not on disk; its row is kept, marked missing", row.path)
        log.warning(
            "%s",
            StorageError(
                f"{len(gone)} indexed segment(s) not found under {root}; kept in the index, "
                "marked missing",
                code="E408",
            ),
        )
    if back:
        index.set_missing(back, missing=False)
        log.info("%d segment(s) marked missing are on disk again", len(back))
    result.missing = len(gone)
    result.found_again = len(back)
    return result


def recover_cameras(context: RecordingContext, cameras: list[str]) -> None:
    """After a worker process died: its cameras' open segments cut to their last whole
    fragment and indexed, before they record again; the other cameras' are left alone. It
    never raises: a restart must not wait on a bug here."""
    if not cameras:
        return
    try:
        result = reconcile(context.root, context.index, cameras=cameras)
    except Exception:
        _log.exception("[E600] recovery after a worker's death failed")
        return
    _log.info(
        "after the worker's death: recovered %d segment(s), quarantined %d",
        result.recovered,
        result.quarantined,
    )


def _guarded(
    step: Callable[[Path, Path, Index, Reconciled, logging.Logger], None],
    root: Path,
    path: Path,
    index: Index,
    result: Reconciled,
    log: logging.Logger,
) -> None:
    """One file's recovery; whatever it raises is reported, and the start goes on."""
    try:
        step(root, path, index, result, log)
    except Exception as err:  # a start must never fail on one file
        result.failed += 1
        reason = getattr(err, "strerror", None) or type(err).__name__
        log.error(
            "%s",
            StorageError(f"{path.name} could not be recovered or moved ({reason})", code="E403"),
        )


def _camera_of(root: Path, path: Path) -> str:
    return path.relative_to(root / RECORDINGS).parts[0]


def _recover(
    root: Path,
    partial: Path,
    index: Index,
    result: Reconciled,
    log: logging.Logger,
    cap: float | None = None,
) -> None:
    """Finalize and index a partial segment; it ends by `cap` (the next one's start)."""
    final = partial.with_name(partial.name.removesuffix(PARTIAL_SUFFIX) + ".mp4")
    if final.exists():  # the crash came after the rename: the segment is whole already
        partial.unlink()
        return
    start = recorded_start(partial) or start_of(partial)
    try:
        if not cut_to_whole_fragments(partial):
            partial.unlink()
            result.discarded += 1
            log.info("partial segment %s held no whole fragment; removed", partial.name)
            return
        segment = finalize(partial, final, start if start is not None else partial.stat().st_mtime)
    except _ERRORS as err:
        _quarantine(root, partial, err, result, log)
        return
    if cap is not None and segment.start < cap < segment.start + segment.duration:
        segment = dataclasses.replace(segment, duration=cap - segment.start)
    _index_with_events(index, root, _camera_of(root, final), segment)
    result.recovered += 1
    log.warning(
        "recovered partial segment %s: %.1f s to its last whole fragment",
        final.name,
        segment.duration,
    )


def _index_orphan(
    root: Path, path: Path, index: Index, result: Reconciled, log: logging.Logger
) -> None:
    start = start_of(path)
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            duration = float(container.duration or 0) / av.time_base
            codec = video.codec_context.name
            frames = video.frames
    except _ERRORS as err:
        _quarantine(root, path, err, result, log)
        return
    when = start if start is not None else path.stat().st_mtime
    segment = ClosedSegment(path, when, duration, path.stat().st_size, codec, frames)
    _index_with_events(index, root, _camera_of(root, path), segment)
    result.indexed += 1
    log.info("indexed segment %s found on disk without a row", path.name)


def _index_with_events(index: Index, root: Path, camera: str, segment: ClosedSegment) -> None:
    """Index a recovered segment, flagged ``has_event`` when a stored event overlaps it (the
    flag its recorder would have set at the close the crash prevented), so that it is kept
    ``events_days``, not ``days``."""
    end = segment.start + segment.duration
    overlapping = index.events(camera, segment.start, end, Page(limit=1))
    index_segment(index, root, camera, segment, has_event=bool(overlapping))


def _quarantine(
    root: Path, path: Path, err: BaseException, result: Reconciled, log: logging.Logger
) -> None:
    target = root / QUARANTINE / path.relative_to(root / RECORDINGS)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    fsync_directory(target.parent)
    fsync_directory(path.parent)
    result.quarantined += 1
    reason = getattr(err, "strerror", None) or type(err).__name__
    log.error(
        "%s",
        StorageError(
            f"{path.name} could not be recovered ({reason}); moved to {target}", code="E403"
        ),
    )
