"""Retention: delete old footage by age, by size and when free space runs low.

Rules, in order, each deleting oldest first:

1. age: a segment older than its camera's ``record.retention_days`` (else
   ``storage.retention.days``) goes; one with an event keeps ``events_days`` instead;
2. per-camera size: ``record.max_size_gb``;
3. overall size: ``storage.retention.max_size_gb``;
4. free space: below ``storage.retention.min_free_gb`` the oldest footage goes at once.

The thread runs the rules every minute, and checks free space every few seconds in between:
below ``min_free_gb`` it runs at once (E407), before a write can fail for want of space.

A segment marked ``keep`` is never deleted, and the one being written is not in the index
yet, so it can't be. Every deletion is logged; emptied folders are pruned.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vigil.config import VigilConfig
from vigil.recording.naming import RECORDINGS
from vigil.storage.index import Index, SegmentRow

_log = logging.getLogger(__name__)
DAY = 86_400.0  # seconds
GB = 1e9  # bytes
RETENTION_INTERVAL = 60.0  # seconds between runs
FREE_SPACE_INTERVAL = 5.0  # seconds between free-space checks (a statvfs call)


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
    ):
        self.root = root
        self.index = index
        self.config = config
        self.clock = clock
        self.free_space = free_space
        self.check_interval = check_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Deleted:
        result = Deleted()
        rows = [r for r in self.index.segments() if not r.keep]
        rows = self._by_age(rows, result)
        rows = self._by_camera_size(rows, result)
        rows = self._by_total_size(rows, result)
        self._by_free_space(rows, result)
        return result

    def _expired(self, row: SegmentRow, now: float) -> bool:
        retention = self.config.storage.retention
        camera = self.config.cameras.get(row.camera)
        days = (
            retention.events_days
            if row.has_event
            else (
                camera.record.retention_days
                if camera and camera.record.retention_days
                else retention.days
            )
        )
        return row.end < now - days * DAY

    def _by_age(self, rows: list[SegmentRow], result: Deleted) -> list[SegmentRow]:
        now = self.clock()
        kept = []
        for row in rows:
            if self._expired(row, now):
                self._delete(row, "older than its retention", result)
                result.by_age += 1
            else:
                kept.append(row)
        return kept

    def _by_camera_size(self, rows: list[SegmentRow], result: Deleted) -> list[SegmentRow]:
        for name, camera in self.config.cameras.items():
            limit = camera.record.max_size_gb
            if limit is None:
                continue
            mine = [r for r in rows if r.camera == name]
            for row in _over(mine, limit * GB):
                self._delete(row, f"{name} over {limit} GB", result)
                result.by_camera_size += 1
                rows.remove(row)
        return rows

    def _by_total_size(self, rows: list[SegmentRow], result: Deleted) -> list[SegmentRow]:
        limit = self.config.storage.retention.max_size_gb
        if limit is None:
            return rows
        for row in _over(rows, limit * GB):
            self._delete(row, f"recordings over {limit} GB", result)
            result.by_total_size += 1
            rows.remove(row)
        return rows

    def _by_free_space(self, rows: list[SegmentRow], result: Deleted) -> None:
        need = self.config.storage.retention.min_free_gb * GB
        for row in sorted(rows, key=lambda r: r.start):
            if self.free_space(self.root) >= need:
                return
            self._delete(row, f"free space under {need / GB:g} GB", result)
            result.by_free_space += 1

    def _delete(self, row: SegmentRow, reason: str, result: Deleted) -> None:
        path = self.root / row.path
        path.unlink(missing_ok=True)
        self.index.delete_segment(row.id)
        result.ids.append(row.id)
        _log.info("deleted %s (%s)", row.path, reason)
        self._prune(path.parent)

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


def _over(rows: list[SegmentRow], limit: float) -> list[SegmentRow]:
    """The oldest rows to delete so that the rest fit in `limit` bytes."""
    total = sum(r.bytes for r in rows)
    out = []
    for row in sorted(rows, key=lambda r: r.start):
        if total <= limit:
            break
        out.append(row)
        total -= row.bytes
    return out
