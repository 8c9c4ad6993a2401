"""Viewers that come and go leave nothing behind: 200 MJPEG viewers (four at a time) and
10 WebRTC viewers (aiortc, each connected to its first frame), from a child process, against
the real app and a real camera. The server's file descriptors and threads are back at the
baseline once they have gone. ``vigil bench --profile churn`` runs 10,000 and 1,000."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import SMALL, SimThread, free_port
from vigil.bench.churn import churn
from vigil.bench.live import live_config, served
from vigil.sim.server import build_cameras

MJPEG_CYCLES = 200
WEBRTC_CYCLES = 10


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(1, SMALL, SMALL, quiet=True)) as served:
        yield served


def test_viewers_that_come_and_go_leave_no_descriptor_or_thread(sim: SimThread) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/cameras/cam1"
    with served(live_config(sim.port, "sub"), port) as (manager, _):
        result = churn(manager, url, MJPEG_CYCLES, WEBRTC_CYCLES, progress=False)
    assert result.failed == {"mjpeg": 0, "webrtc": 0}
    base, *after = result.samples
    assert len(after) == 8  # each phase sampled at each quarter
    for each in after:
        assert each.fds == base.fds, result.samples
        assert each.threads <= base.threads, result.samples  # the pool may prune idle ones
