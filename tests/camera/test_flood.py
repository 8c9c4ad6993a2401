"""An fps flood: one camera suddenly sends ten times its frame rate (the simulator's
`flood` fault, over real RTSP) while another records beside it. Every queue stays inside its
bound, what can't be kept is counted, the flooded camera keeps recording decodable footage,
and the other camera doesn't notice."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.media.hub import Subscription
from vigil.recording.recorder import RecordingContext
from vigil.sim.sender import FLOOD_FACTOR
from vigil.sim.server import build_cameras
from vigil.storage.index import Index

FLOOD_SECONDS = 8.0


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as served:
        yield served


def steps_of(path: Path) -> list[int]:
    """The steps between a segment's frames, in flood frame times (1 in the flood, 10 at the
    camera's own rate; anything else is frames missing)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        assert base is not None
        stamps = [(f.pts or 0) * base for f in container.decode(stream)]
    assert stamps
    flood_frame = Fraction(1, FLOOD_FACTOR * SMALL.fps)
    return [round((b - a) / flood_frame) for a, b in itertools.pairwise(stamps)]


def test_a_flooding_camera_stays_bounded_and_its_neighbour_is_untouched(
    sim: SimThread, tmp_path: Path
) -> None:
    config = validate_data(
        {
            "cameras": {
                name: {"inputs": [{"url": sim.url(cam)}], "record": {"segment_seconds": 2}}
                for name, cam in (("flooded", "cam1"), ("calm", "cam2"))
            }
        }
    )
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    manager = CameraManager(config.cameras, recording=ctx)
    manager.start()
    try:
        wait_for(
            lambda: all(len(ctx.index.segments(n)) >= 1 for n in ("flooded", "calm")),
            30,
            "both cameras recording",
        )
        hub = manager.get("flooded").inputs[0].hub
        calm_before = len(ctx.index.segments("calm"))
        sim.set_faults("cam1", flood=True)
        deadline = time.monotonic() + FLOOD_SECONDS
        worst_len = worst_span = 0.0
        fps_seen = 0.0
        while time.monotonic() < deadline:  # sample the queues through the flood
            now = time.monotonic()
            for sub in hub.subscriptions:
                if isinstance(sub, Subscription):
                    worst_len = max(worst_len, len(sub) / sub.maxsize)
                    if sub.max_seconds is not None:
                        worst_span = max(worst_span, sub.span(now) / sub.max_seconds)
            fps_seen = max(fps_seen, manager.status("flooded").fps_in)
            time.sleep(0.1)
        calm = manager.status("calm")
        sim.set_faults("cam1", flood=False)
        after = len(ctx.index.segments("flooded"))
        wait_for(lambda: len(ctx.index.segments("flooded")) >= after + 2, 30, "recording on")
        dropped = manager.status("flooded").dropped
    finally:
        manager.shutdown()
    assert fps_seen > FLOOD_FACTOR / 2 * SMALL.fps  # vigil saw the flood
    # every queue stayed inside its bound: in packets, and in time where it has one
    assert worst_len <= 1.0
    assert worst_span <= 1.0 + 0.2  # one packet past the bound before the oldest goes
    # the calm camera went on at its own rate, recording, with nothing dropped or reconnected
    assert calm.fps_in == pytest.approx(SMALL.fps, rel=0.2)
    assert calm.dropped == 0 and calm.reconnects == 0
    calm_rows = ctx.index.segments("calm")
    assert len(calm_rows) >= calm_before + 2
    for row in calm_rows:
        assert set(steps_of(tmp_path / row.path)) == {FLOOD_FACTOR}  # every frame, in step
    # the flooded camera's footage holds every frame it sent, at the rate it sent them, or
    # the frames missing are counted as dropped
    steps = [s for row in ctx.index.segments("flooded") for s in steps_of(tmp_path / row.path)]
    assert steps.count(1) > FLOOD_SECONDS / 2 * FLOOD_FACTOR * SMALL.fps
    missing = sum(s - 1 for s in steps if s not in (1, FLOOD_FACTOR))
    assert missing <= dropped
    ctx.index.close()
