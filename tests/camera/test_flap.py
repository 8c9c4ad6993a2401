"""A camera that drops its connection every 5 s (the simulator's `drop_after`, over real
RTSP) while it records: it is retried after a second each time (each connection streamed
longer than that), each reconnect resumes recording, no segment overlaps another, every file
decodes, and threads and file descriptors stay where they were after the first drops.
``vigil bench --profile soak`` keeps a camera flapping for the whole run."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import av
import psutil
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.sim.server import build_cameras
from vigil.storage.index import Index

DROP_EVERY = 5.0
DROPS = 4


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as served:
        served.set_faults("cam1", drop_after=DROP_EVERY)
        yield served


def test_a_flapping_camera_resumes_recording_at_every_reconnect_and_leaks_nothing(
    sim: SimThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    config = validate_data(
        {"cameras": {"flap": {"inputs": [{"url": sim.url("cam1")}], "record": {}}}}
    )
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    manager = CameraManager(config.cameras, recording=ctx)
    me = psutil.Process()
    manager.start()
    try:
        # a drop closes the open segment (3 s without a packet): one segment a connection
        wait_for(lambda: manager.status("flap").reconnects >= 2, 60, "the first drops")
        wait_for(lambda: len(ctx.index.segments("flap")) >= 2, 30, "their segments")
        threads, fds = me.num_threads(), me.num_fds()
        wait_for(
            lambda: manager.status("flap").reconnects >= DROPS + 2,
            DROPS * (DROP_EVERY + 5),
            f"{DROPS} drops more",
        )
        wait_for(lambda: len(ctx.index.segments("flap")) >= DROPS + 2, 30, "every segment")
        assert me.num_threads() == threads
        assert me.num_fds() == fds
        rows = ctx.index.segments("flap")
    finally:
        manager.shutdown()
    # each connection streamed longer than the wait it would get: the backoff starts over
    # at one second every time, and never climbs to 30 s
    waits = re.findall(r"retrying in (\d+) s", caplog.text)
    assert len(waits) >= DROPS + 2 and set(waits) == {"1"}, waits
    ordered = sorted(rows, key=lambda r: r.start)
    for earlier, later in itertools.pairwise(ordered):
        assert later.start >= earlier.end - 1e-3, (earlier, later)
    for row in ordered:
        with av.open(str(tmp_path / row.path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        # each connection's footage: most of its 5 s (it starts at a key frame, a second in)
        assert frames >= (DROP_EVERY - 2) * SMALL.fps, row
    ctx.index.close()


def test_a_camera_gone_quiet_has_its_footage_indexed_before_it_is_back(tmp_path: Path) -> None:
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        sim.set_faults("cam1", stall_after=4.0)  # the socket stays open, nothing comes
        config = validate_data(
            {"cameras": {"quiet": {"inputs": [{"url": sim.url("cam1")}], "record": {}}}}
        )
        ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
        manager = CameraManager(config.cameras, recording=ctx)
        manager.start()
        try:
            # indexed 3 s into the silence, long before the stall is called (10 s) and the
            # camera reconnected; before, the segment stayed open until it was back
            wait_for(lambda: ctx.index.segments("quiet"), 12, "the footage before the silence")
            assert manager.status("quiet").reconnects == 0
            [row] = ctx.index.segments("quiet")
            assert row.duration > 1.0
        finally:
            manager.shutdown()
        ctx.index.close()
