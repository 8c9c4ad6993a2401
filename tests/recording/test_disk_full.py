"""A real disk full: ``vigil run`` records onto a small tmpfs that holds its SQLite index too,
and another file fills the disk to the last byte. Emergency retention runs, nothing
crashes, and once space is back recording resumes; every row's file is there and decodes,
and the database is whole. Mounting needs root (CI has it); where it is refused, the test
says so and skips."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from vigil.bench.instance import Instance
from vigil.sim.server import build_cameras

DISK_MB = 48
MIN_FREE_GB = 0.004  # 4 MB: retention's free-space rule, the emergency one


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs was refused ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as served:
        yield served


def fill(path: Path) -> int:
    """Write `path` until the disk refuses another byte; the bytes written."""
    chunk = b"\0" * 2**20
    written = 0
    with path.open("wb", buffering=0) as fh:
        for size in (2**20, 2**12, 1):
            try:
                while True:
                    written += fh.write(chunk[:size])
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
    return written


def rows(db: Path) -> list[tuple[str, float, str]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as c:
        query = "SELECT camera, start, path FROM segments ORDER BY start"
        return [(str(cam), float(s), str(p)) for cam, s, p in c.execute(query)]


def test_a_full_disk_pauses_recording_and_it_resumes_with_nothing_broken(
    disk: Path, sim: SimThread, tmp_path: Path
) -> None:
    cams: dict[str, dict[str, object]] = {
        f"cam{n}": {"inputs": [{"url": sim.url(f"cam{n}")}], "record": {"segment_seconds": 2}}
        for n in (1, 2)
    }
    storage: dict[str, object] = {"path": str(disk / "data")}
    storage["retention"] = {"min_free_gb": MIN_FREE_GB}
    vigil = Instance(tmp_path / "vigil", cams, storage)  # its log and config off the disk
    db = vigil.data / "vigil.db"
    vigil.start()
    try:
        wait_for(lambda: db.exists() and len(rows(db)) >= 4, 60, "footage")
        filler = disk / "filler"
        fill(filler)  # another program takes every byte left
        assert os.statvfs(disk).f_bavail == 0
        log = vigil.log
        wait_for(lambda: "[E407]" in log.read_text(), 30, "emergency retention")
        wait_for(lambda: "[E404]" in log.read_text(), 30, "the full disk met by a write")
        assert vigil.proc is not None and vigil.proc.poll() is None  # nothing crashed
        filler.unlink()  # space is back
        back = time.time()
        wait_for(
            lambda: {cam for cam, start, _ in rows(db) if start > back} == set(cams),
            60,
            "recording resumed on every camera",
        )
        assert vigil.proc.poll() is None
    finally:
        vigil.stop()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for _, _, path in rows(db):
        with av.open(str(vigil.data / path)) as container:
            assert sum(1 for _ in container.decode(video=0)) > 0, path
    text = vigil.log.read_text()
    assert "(free space under" in text  # the emergency rule deleted the oldest footage
    assert "Traceback" not in text
