"""Retention: delete old footage by age, by size and when free space runs low.

Rules, in order, each deleting oldest first:

1. age: a segment older than its camera's ``record.retention_days`` (else
   ``storage.retention.days``) goes; one with an event keeps ``events_days`` instead;
2. per-camera size: ``record.max_size_gb``;
3. overall size: ``storage.retention.max_size_gb``;
4. free space: below ``storage.retention.min_free_gb`` the oldest footage goes at once.

The thread runs the rules every minute, and checks free space every few seconds in between:
below ``min_free_gb`` it runs at once (E407), before a write can fail for want of space.

The free-space rule makes room for vigil's own footage, not for another program's files: in
any hour it deletes at most what vigil recorded in that hour plus ``min_free_gb``. A disk
filled by something else faster than that is reported (E417) and the rest of the footage
kept, rather than the whole archive handed over a segment at a time: recording then meets
the full disk (E404) and resumes once there is room.

A segment marked ``keep`` is never deleted, and the one being written is not in the index
yet, so it can't be. Every deletion is logged; emptied folders are pruned.

The per-camera rules follow the cameras as they are now (``cameras``: the manager's live
configs), so a camera added or changed through the API gets its own. A file that can't be
deleted (permissions, a read-only or busy file) is reported (E412), keeps its row, is
skipped for the rest of the run so the next one is taken instead, and is tried again at
the next run.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vigil.config import CameraConfig, VigilConfig
from vigil.errors import StorageError
from vigil.recording.naming import RECORDINGS
from vigil.storage.index import Index, SegmentRow

_log = logging.getLogger(__name__)
DAY = 86_400.0  # seconds
GB = 1e9  # bytes
RETENTION_INTERVAL = 60.0  # seconds between runs
FREE_SPACE_INTERVAL = 5.0  # seconds between free-space checks (a statvfs call)
BATCH = 100  # oldest rows read at a time when trimming by size or free space
EMERGENCY_WINDOW = 3600.0  # s: the free-space rule frees at most the footage recorded in it


def free_bytes(path: Path) -> int:
    """Free space where `path` lives (the probe tests replace)."""
    return shutil.disk_usage(path).free


@dataclass
class Deleted:
    by_age: int = 0
    by_camera_size: int = 0
    by_total_size: int = 0
    by_free_space: int = 0
    ids: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # rows whose file couldn't be deleted

    @property
    def total(self) -> int:
        return self.by_age + self.by_camera_size + self.by_total_size + self.by_free_space


class Retention:
    """Applies the retention rules; `run_once` is what the background thread calls."""

    def __init__(
        self,
        root: Path,
        index: Index,
        config: VigilConfig,
        *,
        clock: Callable[[], float] = time.time,
        free_space: Callable[[Path], int] = free_bytes,
        check_interval: float = FREE_SPACE_INTERVAL,
        cameras: Callable[[], Mapping[str, CameraConfig]] | None = None,
    ):
        self.root = root
        self.index = index
        self.config = config
        self.cameras = cameras or (lambda: config.cameras)  # the live configs
        self._stuck: set[int] = set()  # rows whose file this run couldn't delete
        self._freed: deque[tuple[float, int]] = deque()  # (when, bytes) by the free-space rule
        self.held_back = False  # the free-space rule stopped short: the disk fills otherwise
        self.clock = clock
        self.free_space = free_space
        self.check_interval = check_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Deleted:
        """One pass of the rules. The database picks the rows: a run reads only those it
        deletes (and sums), never the whole index, which for 50 cameras and a month of
        60 s segments is two million rows."""
        result = Deleted()
        self._stuck.clear()  # tried again each run
        cameras = self.cameras()
        self._by_age(cameras, result)
        sizes = self.config.storage.retention.max_size_gb is not None or any(
            camera.record.max_size_gb is not None for camera in cameras.values()
        )
        if sizes:
            stored = self.index.stored_bytes()  # by camera; kept up to date as rows go
            self._by_camera_size(cameras, stored, result)
            self._by_total_size(stored, result)
        self._by_free_space(result)
        return result

    def _by_age(self, cameras: Mapping[str, CameraConfig], result: Deleted) -> None:
        now = self.clock()
        retention = self.config.storage.retention
        cutoffs = {
            name: now - camera.record.retention_days * DAY
            for name, camera in cameras.items()
            if camera.record.retention_days
        }
        events_before = now - retention.events_days * DAY
        for row in self.index.expired(cutoffs, now - retention.days * DAY, events_before):
            if self._delete(row, "older than its retention", result):
                result.by_age += 1

    def _by_camera_size(
        self, cameras: Mapping[str, CameraConfig], stored: dict[str, int], result: Deleted
    ) -> None:
        for name, camera in cameras.items():
            limit = camera.record.max_size_gb
            if limit is not None:
                reason = f"{name} over {limit} GB"
                result.by_camera_size += self._trim(name, stored, limit * GB, reason, result)

    def _by_total_size(self, stored: dict[str, int], result: Deleted) -> None:
        limit = self.config.storage.retention.max_size_gb
        if limit is not None:
            reason = f"recordings over {limit} GB"
            result.by_total_size += self._trim(None, stored, limit * GB, reason, result)

    def _trim(
        self,
        camera: str | None,
        stored: dict[str, int],
        limit: float,
        reason: str,
        result: Deleted,
    ) -> int:
        """Delete the oldest segments (of `camera`, or all) until the rest fit in `limit`;
        `stored` (bytes by camera) follows the deletions."""
        deleted = 0
        total = stored.get(camera, 0) if camera is not None else sum(stored.values())
        while total > limit:
            batch = self.index.oldest(camera, BATCH, self._stuck)
            if not batch:
                break
            for row in batch:
                if total <= limit:
                    break
                if self._delete(row, reason, result):
                    total -= row.bytes
                    stored[row.camera] = stored.get(row.camera, 0) - row.bytes
                    deleted += 1
        return deleted

    def _by_free_space(self, result: Deleted) -> None:
        need = self.config.storage.retention.min_free_gb * GB
        if self.free_space(self.root) >= need:
            self.held_back = False
            return
        budget = self._emergency_budget(need)
        while self.free_space(self.root) < need:
            batch = self.index.oldest(None, BATCH, self._stuck)
            if not batch:
                return
            for row in batch:
                if self.free_space(self.root) >= need:
                    return
                if row.bytes > budget:
                    self._hold_back(need)
                    return
                if self._delete(row, f"free space under {need / GB:g} GB", result):
                    result.by_free_space += 1
                    budget -= row.bytes
                    self._freed.append((self.clock(), row.bytes))

    def _emergency_budget(self, need: float) -> float:
        """Bytes the free-space rule may still delete: what vigil recorded in the last
        ``EMERGENCY_WINDOW``, plus ``min_free_gb``, less what the rule freed in it."""
        since = self.clock() - EMERGENCY_WINDOW
        while self._freed and self._freed[0][0] <= since:
            self._freed.popleft()
        recorded = self.index.bytes_since(since)
        return need + recorded - sum(size for _, size in self._freed)

    def _hold_back(self, need: float) -> None:
        if not self.held_back:
            _log.warning(
                "%s",
                StorageError(
                    f"free space is under {need / GB:g} GB though the footage deleted for it "
                    f"in the last hour exceeds what vigil recorded: something else is filling "
                    f"the disk. The rest of the footage is kept; free the disk",
                    code="E417",
                ),
            )
        self.held_back = True

    def _delete(self, row: SegmentRow, reason: str, result: Deleted) -> bool:
        """Delete one segment, file then row; False (reported, row kept) if the file can't
        be deleted."""
        path = self.root / row.path
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            self._stuck.add(row.id)
            result.failed.append(row.id)
            _log.error(
                "%s",
                StorageError(
                    f"cannot delete {row.path} ({err.strerror}); kept, tried again next run",
                    code="E412",
                ),
            )
            return False
        self.index.delete_segment(row.id)
        result.ids.append(row.id)
        _log.info("deleted %s (%s)", row.path, reason)
        self._prune(path.parent)
        return True

    def _prune(self, folder: Path) -> None:
        top = self.root / RECORDINGS
        while folder != top and folder.is_relative_to(top):
            try:
                folder.rmdir()  # only if empty
            except OSError:
                return
            folder = folder.parent

    # ---- the background thread ---------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-retention", daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Run now (low space, say) rather than at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def low_on_space(self) -> bool:
        """Whether free space is under ``min_free_gb`` (checked between runs)."""
        need = self.config.storage.retention.min_free_gb * GB
        try:
            return self.free_space(self.root) < need
        except OSError:
            return False

    def _run(self) -> None:
        low = freed = False
        next_run = 0.0
        while not self._stop.is_set():
            was_low, low = low, self.low_on_space()
            if low and not was_low:
                _log.warning(
                    "[E407] free space under %g GB: deleting the oldest footage now",
                    self.config.storage.retention.min_free_gb,
                )
            # low: run now; again 5 s later only if that run freed something (if there is
            # nothing left to delete, a run every 5 s would only reread the index)
            urgent = low and (not was_low or freed)
            if urgent or time.monotonic() >= next_run:
                next_run = time.monotonic() + RETENTION_INTERVAL
                freed = self._run_logged() > 0
            self._wake.wait(self.check_interval)
            if self._wake.is_set():
                self._wake.clear()
                next_run = 0.0  # triggered: run now

    def _run_logged(self) -> int:
        try:
            deleted = self.run_once()
        except Exception:  # retention must outlive a bad row or a vanished file
            _log.exception("[E401] retention run failed")
            return 0
        if deleted.total:
            _log.info("retention deleted %d segment(s)", deleted.total)
        return deleted.total
