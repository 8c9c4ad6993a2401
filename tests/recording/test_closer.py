"""Segments are finalized and indexed off the recorder's thread (recording/closer.py)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from tests.helpers import SMALL, SimThread, wait_for
from tests.recording.test_recorder import frames_ok, recording_camera
from vigil.recording.closer import PENDING, SegmentCloser
from vigil.recording.recorder import RecordingContext
from vigil.sim.server import build_cameras
from vigil.storage.index import Index


def test_closes_run_in_order_and_one_that_raises_does_not_stop_the_next() -> None:
    done: list[int] = []
    errors: list[Exception] = []
    closer = SegmentCloser("test-closer", errors.append)

    def fail() -> None:
        raise RuntimeError("the index refused it")

    closer.submit(lambda: done.append(1))
    closer.submit(fail)
    closer.submit(lambda: done.append(2))
    closer.drain()
    assert done == [1, 2]
    assert [str(e) for e in errors] == ["the index refused it"]
    assert closer.pending() == 0


def test_a_submit_waits_once_the_closes_pending_reach_the_bound() -> None:
    started, gate = threading.Event(), threading.Event()

    def held() -> None:
        started.set()
        gate.wait()

    closer = SegmentCloser("test-closer", lambda err: None)
    closer.submit(held)
    assert started.wait(10)  # running, held
    assert closer.holding() is None and closer.pending() == 1
    for _ in range(PENDING):
        closer.submit(lambda: None)
    assert closer.holding() is not None  # the next submit would wait: for this thread
    extra = threading.Thread(target=closer.submit, args=(lambda: None,))
    extra.start()
    wait_for(lambda: closer.waits == 1, 10, "the extra submit waiting")
    assert extra.is_alive() and closer.pending() == PENDING + 1  # it waits, not queued
    gate.set()
    extra.join(10)
    assert not extra.is_alive()
    closer.drain()
    assert closer.pending() == 0


def test_a_slow_index_write_no_longer_holds_up_the_recording(tmp_path: Path) -> None:
    """The index write of the first segment blocks (SQLite's lock held elsewhere, standing
    for the seconds it took at 48 cameras): the recorder records on into the next segment
    and drops nothing. Once free, every segment is indexed, whole, and none overlaps."""
    index = Index(tmp_path / "vigil.db")
    ctx = RecordingContext(tmp_path, index)
    real_add = index.add_segment
    gate = threading.Event()
    calls = itertools.count()

    def add_segment(**fields: Any) -> int:
        if next(calls) == 0:
            gate.wait()
        return real_add(**fields)

    index.add_segment = add_segment  # type: ignore[method-assign]
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        cam = recording_camera(sim.url("cam1"), ctx)
        cam.start()
        try:
            wait_for(lambda: cam.recorder is not None, 10, "a recorder")
            recorder = cam.recorder
            assert recorder is not None
            # two segments closed (the first held in its index write), a third being written
            wait_for(lambda: recorder._closer.pending() == 2, 30, "two closes pending")
            assert recorder.segments_written == 0
            assert recorder.subscription.dropped == 0
            assert cam.failures["recorder"].dropped == 0
            gate.set()
            wait_for(lambda: recorder.segments_written >= 3, 30, "the closes done")
        finally:
            gate.set()
            cam.stop(timeout=5)
    rows = sorted(index.segments("yard"), key=lambda r: r.start)
    assert len(rows) >= 3
    for row in rows:
        assert frames_ok(ctx.root / row.path)
    for a, b in itertools.pairwise(rows):
        assert a.end <= b.start + 0.001
    index.close()
