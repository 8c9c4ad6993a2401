"""The machine's wall clock stepped while a real camera records (an injected wall clock,
moved by an hour or by 56 years; the simulator, RTSP and the index are real): the step is
seen and recorded, no two segments of the camera overlap, every file decodes, and
retention doesn't take the footage for older than it is."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from vigil.camera.manager import CameraManager
from vigil.config import VigilConfig, validate_data
from vigil.recording.recorder import RecordingContext
from vigil.recording.retention import DAY, Retention
from vigil.sim.server import build_cameras
from vigil.storage.index import Index, SegmentRow

YEARS_56 = 56 * 365.25 * DAY


class WallClock:
    """time.time() moved by `offset`, which a test sets (a step of the machine's clock)."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as served:
        yield served


def config(url: str, days: int = 1) -> VigilConfig:
    return validate_data(
        {
            "storage": {"retention": {"days": days}},
            "cameras": {"yard": {"inputs": [{"url": url}], "record": {"segment_seconds": 2}}},
        }
    )


def recording(sim: SimThread, ctx: RecordingContext) -> CameraManager:
    manager = CameraManager(config(sim.url("cam1")).cameras, recording=ctx)
    manager.start()
    return manager


def rows(ctx: RecordingContext) -> list[SegmentRow]:
    return ctx.index.segments("yard")


def assert_no_overlap_and_all_decode(ctx: RecordingContext) -> None:
    ordered = sorted(rows(ctx), key=lambda r: r.start)
    for earlier, later in itertools.pairwise(ordered):
        assert later.start >= earlier.end - 1e-6, (earlier, later)
    for row in ordered:
        with av.open(str(ctx.root / row.path)) as container:
            assert sum(1 for _ in container.decode(video=0)) > 0


def test_a_clock_from_1970_set_right_at_boot_keeps_its_footage(
    sim: SimThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wall = WallClock(offset=100_000.0 - time.time())  # booted on 2 January 1970
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"), wall=wall)
    manager = recording(sim, ctx)
    try:
        wait_for(lambda: len(rows(ctx)) >= 2, 30, "footage stamped 1970")
        assert all(r.start < 200_000 for r in rows(ctx))
        wall.offset = 0.0  # NTP sets the clock right
        wait_for(lambda: manager.clock_steps == 1, 10, "the step seen")
        wait_for(lambda: any(r.start > time.time() - 60 for r in rows(ctx)), 30, "footage now")
    finally:
        manager.shutdown()
    steps = ctx.index.clock_steps()
    assert len(steps) == 1
    before, after = steps[0]
    assert after - before == pytest.approx(time.time() - 100_000.0, abs=YEARS_56 / 1000)
    assert "[E416]" in caplog.text and "stepped forward" in caplog.text
    assert_no_overlap_and_all_decode(ctx)
    kept = len(rows(ctx))
    # a day's retention, on the right clock: the 1970 footage is minutes old, not decades
    deleted = Retention(tmp_path, ctx.index, config(sim.url("cam1")), clock=wall).run_once()
    assert deleted.total == 0
    assert len(rows(ctx)) == kept
    ctx.index.close()


def test_a_clock_set_back_an_hour_never_makes_segments_overlap_across_a_restart(
    sim: SimThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    wall = WallClock()
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"), wall=wall)
    manager = recording(sim, ctx)
    try:
        wait_for(lambda: len(rows(ctx)) >= 2, 30, "footage")
        wall.offset = -3600.0
        wait_for(lambda: manager.clock_steps == 1, 10, "the step seen")
        seen = len(rows(ctx))
        wait_for(lambda: len(rows(ctx)) >= seen + 2, 30, "footage after the step")
    finally:
        manager.shutdown()
    assert "stepped back 3600" in caplog.text
    assert "behind this camera's footage" in caplog.text  # placed after the last one
    caplog.clear()
    # vigil restarts with the clock still an hour behind its footage
    manager = recording(sim, ctx)
    try:
        seen = len(rows(ctx))
        wait_for(lambda: len(rows(ctx)) >= seen + 2, 30, "footage after the restart")
    finally:
        manager.shutdown()
    assert "[E416]" in caplog.text and "behind this camera's footage" in caplog.text
    assert manager.clock_steps == 0  # no step during this run: the clock was behind already
    assert [round(a - b) for b, a in ctx.index.clock_steps()] == [-3600]
    assert_no_overlap_and_all_decode(ctx)
    ctx.index.close()
