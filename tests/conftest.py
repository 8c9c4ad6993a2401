"""Shared fixtures: small simulated cameras over real RTSP, and small media files."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CAM_SECRET, CAM_USER, SMALL, SimThread, make_video
from vigil.sim.server import build_cameras


@pytest.fixture(scope="session", autouse=True)
def _media_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["VIGIL_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def sim() -> Iterator[SimThread]:
    """Four small cameras; cam3 wants credentials."""
    cameras = build_cameras(4, SMALL, None, auth={"cam3": (CAM_USER, CAM_SECRET)}, quiet=True)
    with SimThread(cameras) as server:
        yield server


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=2, fps=15)


@pytest.fixture(autouse=True)
def _quiet_av() -> None:
    logging.getLogger("libav").setLevel(logging.ERROR)
