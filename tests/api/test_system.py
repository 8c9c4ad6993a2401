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


def test_the_clock_steps_are_listed_newest_first_and_counted_in_metrics(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    ctx.index.add_clock_step(before=100_000.0, after=1_800_000_000.0)  # 1970, set right
    ctx.index.add_clock_step(before=1_800_003_600.0, after=1_800_000_000.0)  # back an hour
    manager = CameraManager({}, recording=ctx)
    manager.clock_steps = 2  # as the monitor counts them (its own test is with a real camera)
    with TestClient(create_app(manager)) as client:
        steps = client.get("/api/system").json()["clock_steps"]
        metrics = client.get("/metrics").text
    assert [s["seconds"] for s in steps] == [-3600.0, 1_800_000_000.0 - 100_000.0]
    assert steps[0]["before"].startswith("2027-01-15T09:00:00") and steps[1]["before"].startswith(
        "1970-01-02T03:46:40"
    )
    assert "vigil_clock_steps_total 2" in metrics.splitlines()
    ctx.index.close()
