"""kill -9 at random moments while four cameras record (``vigil run`` against the real
simulator over RTSP, killed with a real SIGKILL): after each restart the index matches the
disk, every file decodes, no segments overlap, and a kill loses at most a second of each
camera's footage. ``vigil bench --profile chaos`` runs the same loop longer (10 kills)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SMALL, SimThread
from vigil.bench.chaos import kill_loop
from vigil.sim.server import build_cameras

CAMERAS = 4
KILLS = 3
SEGMENT_SECONDS = 2.0
RESTART_BOUND = 30.0  # seconds from a kill to footage again: a start, its recovery, a connect


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(CAMERAS, SMALL, None, quiet=True)) as served:
        yield served


def test_each_kill_loses_at_most_a_second_and_the_restart_finds_everything_whole(
    sim: SimThread, tmp_path: Path
) -> None:
    seed = random.SystemRandom().randrange(2**31)
    cams: dict[str, dict[str, object]] = {
        f"cam{n}": {
            "inputs": [{"url": sim.url(f"cam{n}")}],
            "record": {"segment_seconds": SEGMENT_SECONDS},
            "detect": {"enabled": n % 2 == 0},  # half of them detect too, as cameras do
        }
        for n in range(1, CAMERAS + 1)
    }
    kills = kill_loop(cams, KILLS, tmp_path, segment_seconds=SEGMENT_SECONDS, seed=seed)
    assert len(kills) == KILLS
    for n, kill in enumerate(kills, 1):
        where = f"kill {n} of seed {seed}"
        assert kill.segments >= CAMERAS, where
        assert kill.rows_without_file == [], where
        assert kill.files_without_row == [], where
        assert kill.partials_left == [], where
        assert kill.undecodable == [], where
        assert kill.overlapping == [], where
        assert kill.quarantined == 0, where
        assert set(kill.lost) == set(cams), where
        assert all(0 <= lost <= 1.0 for lost in kill.lost.values()), (where, kill.lost)
        assert all(0 < back < RESTART_BOUND for back in kill.back_after.values()), where
