"""``GET /api/system``: disk use and the retention forecast, from the index's sums."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

HOUR = 3600.0
MB = 1_000_000


def test_forecast_comes_from_the_last_day_of_footage(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    now = time.time()
    # two days of history: an old segment of 500 MB, then 12 segments of 10 MB over the
    # last 12 hours (the day's rate is counted over the full day: footage older than a day
    # exists)
    starts = [now - 2 * 24 * HOUR] + [now - (h + 1) * HOUR for h in range(12)]
    sizes = [500 * MB] + [10 * MB] * 12
    for n, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        ctx.index.add_segment(
            camera="yard",
            start=start,
            end=start + 60,
            duration=60.0,
            bytes=size,
            codec="h264",
            has_event=False,
            keep=False,
            path=f"recordings/yard/{n}.mp4",
        )
    with TestClient(create_app(CameraManager({}, recording=ctx))) as client:
        answer = client.get("/api/system")
    assert answer.status_code == 200
    body = answer.json()
    assert body["disk"]["recordings_bytes"] == 620 * MB
    assert body["recorded_bytes_per_day"] == 120 * MB
    free = shutil.disk_usage(tmp_path).free
    expected = (free + 620 * MB) / (120 * MB)
    assert abs(body["days_fit"] - expected) <= 0.1 + expected * 0.001  # free space moves
    ctx.index.close()


def test_no_forecast_before_any_footage(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    with TestClient(create_app(CameraManager({}, recording=ctx))) as client:
        body = client.get("/api/system").json()
    assert body["disk"]["recordings_bytes"] == 0
    assert body["recorded_bytes_per_day"] is None and body["days_fit"] is None
    ctx.index.close()
