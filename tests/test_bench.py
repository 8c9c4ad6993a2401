"""`vigil bench` runs end to end (tiny streams, short run); the figures live in docs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def bench(
    profile: str, cameras: int, seconds: float, warmup: float, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`vigil bench --json` on tiny simulated streams (320x180 at 15 fps)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "--log-level",
            "WARNING",
            "bench",
            "--profile",
            profile,
            "--cameras",
            str(cameras),
            "--seconds",
            str(seconds),
            "--warmup",
            str(warmup),
            "--sim-size",
            "320x180",
            "--sim-fps",
            "15",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("profile", ["ingest", "record", "bare-demux"])
def test_bench_prints_json_with_per_camera_figures(profile: str) -> None:
    result = bench(profile, cameras=2, seconds=2, warmup=1, timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["profile"] == profile and figures["cameras"] == 2
    assert figures["cpu_pct_per_camera"] >= 0
    assert figures["rss_mb"] > 0 and figures["rss_mb_max"] >= figures["rss_mb_start"] > 0
    assert 10 <= figures["fps_in_median"] <= 20
    assert "measuring" in result.stderr  # progress is shown while it runs
    if profile == "record":
        assert figures["segments"] >= 2  # one per camera at least, closed at the end
        assert figures["segments_bad"] == 0
        assert figures["disk_mb_per_hour"] > 0  # what each camera's footage takes


def test_detect_compare_measures_vigil_the_ffmpeg_floor_and_frigate_in_one_run() -> None:
    result = bench("detect-compare", cameras=1, seconds=3, warmup=2, timeout=300)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["profile"] for r in runs] == ["detect", "detect-floor", "detect-frigate"]
    assert all(r["cpu_pct_per_camera"] > 0 for r in runs)
    vigil, _, frigate = runs
    assert vigil["detect"]["fps_detect_median"] > 0  # detection ran on the sub-stream
    assert vigil["detect"]["stream"].startswith("h264 640x360")
    assert frigate["fps_in_median"] > 0  # frames came down the pipe to motion
