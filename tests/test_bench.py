"""`vigil bench` runs end to end (tiny streams, short run); the figures live in docs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def bench(
    profile: str,
    cameras: int,
    seconds: float,
    warmup: float,
    timeout: float,
    extra: tuple[str, ...] = (),
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
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("profile", ["ingest", "bare-demux"])  # record: record-vs-ffmpeg
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


def test_record_vs_ffmpeg_measures_vigils_copy_and_ffmpegs_on_one_source_in_one_run() -> None:
    result = bench("record-vs-ffmpeg", cameras=1, seconds=3, warmup=2, timeout=300)
    assert result.returncode == 0, result.stderr
    vigil, ffmpeg = json.loads(result.stdout)
    assert (vigil["profile"], ffmpeg["profile"]) == ("record", "record-floor")
    assert vigil["segments"] >= 1 and vigil["segments_bad"] == 0
    assert vigil["cpu_pct_per_camera"] > 0 and ffmpeg["cpu_pct_per_camera"] > 0
    assert ffmpeg["stream"] == "ffmpeg: copy main into 10 s segments"


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


def test_bare_detect_bench_copies_main_and_decodes_sub_with_plain_pyav_threads() -> None:
    result = bench("bare-detect", cameras=2, seconds=2, warmup=1, timeout=180)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["profile"] == "bare-detect" and figures["cpu_pct_per_camera"] > 0
    assert 10 <= figures["fps_in_median"] <= 20  # main-stream packets copied a second
    detect = figures["detect"]
    assert detect["fps_decoded_median"] > 0 and detect["fps_detect_median"] > 0
    assert detect["errors"] == []


def test_live_bench_measures_mjpeg_viewers_and_webrtc_against_none() -> None:
    """In one process (`--workers 2` runs the same phases with the camera in a worker; the
    viewers' paths from a worker are tested in tests/camera and tests/streaming)."""
    workers = "1"
    extra = ("--viewers", "3", "--workers", workers)
    result = bench("live", cameras=1, seconds=2, warmup=1, timeout=300, extra=extra)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    phases = {p["name"]: p for p in figures["phases"]}
    tiles = ["tiles-16-1", "tiles-16-auth-1", "tiles-16-2", "tiles-16-auth-2"]
    assert list(phases) == ["none", "mjpeg-1", "mjpeg-3", "webrtc-1", "webrtc-4", *tiles]
    assert phases["none"]["viewer_fps"] == []
    assert len(phases["mjpeg-3"]["viewer_fps"]) == 3
    for rate in phases["mjpeg-1"]["viewer_fps"] + phases["mjpeg-3"]["viewer_fps"]:
        assert 8 <= rate <= 11  # live.mjpeg_fps is 10
    if workers == "1":  # a worker's encodes are counted in the worker
        assert phases["mjpeg-3"]["encodes_per_s"] <= 11  # one encode a frame, not a viewer
    assert phases["webrtc-1"]["encodes_per_s"] == 0  # WebRTC encodes nothing
    assert phases["webrtc-1"]["viewer_fps"][0] >= 10  # the sub-stream's 15 fps, received
    assert len(phases["webrtc-4"]["viewer_fps"]) == 4
    assert all(rate >= 10 for rate in phases["webrtc-4"]["viewer_fps"])
    assert phases["webrtc-4"]["encodes_per_s"] == 0
    assert {"mjpeg_ratio_total", "mjpeg_ratio_marginal", "webrtc_marginal_pct"} <= set(figures)
    assert "webrtc_many_marginal_pct" in figures
    assert figures["workers"] == int(workers)
    assert 0 < figures["snapshot_p50_ms"] <= figures["snapshot_p95_ms"]
    for name in tiles:  # 16 tiles, each answered about once a second, with auth or without
        rates = phases[name]["viewer_fps"]
        assert len(rates) == 16 and all(0.5 <= rate <= 1.1 for rate in rates), (name, rates)
    assert figures["tiles_auth_ratio"] > 0


def test_auth_bench_times_requests_with_and_without_auth() -> None:
    result = bench("auth", cameras=1, seconds=1, warmup=0, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["requests_each"] == 1000
    for key in ("list_ms", "list+session_ms", "snap_ms", "snap+basic_ms", "redact_32k_ms"):
        assert figures[key] > 0
    assert {"session_extra_ms", "basic_extra_ms"} <= set(figures)


def test_retention_bench_times_a_run_over_a_real_index() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli",
            "bench",
            "--profile",
            "retention",
            "--cameras",
            "3",
            "--days",
            "1",
            "--segment-seconds",
            "60",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["profile"] == "retention" and figures["rows"] == 3 * 1440
    assert len(figures["run_cpu_ms_all"]) == 5 and figures["run_cpu_ms_median"] > 0


def test_detect_bench_runs_its_cameras_in_worker_processes() -> None:
    result = bench("detect", cameras=2, seconds=2, warmup=1, timeout=300, extra=("--workers", "2"))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cpu_pct_per_camera"] > 0 and figures["dropped"] == 0
    assert 10 <= figures["fps_in_median"] <= 20
    assert figures["detect"]["fps_detect_median"] > 0
    assert figures["detect"]["governor"].startswith("one per worker")


def test_bare_detect_spreads_its_cameras_over_processes() -> None:
    extra = ("--processes", "2")
    result = bench("bare-detect", cameras=3, seconds=2, warmup=1, timeout=180, extra=extra)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert "in 2 processes" in figures["stream"]
    assert len(figures["detect"]["fps_detect_median_by_process"]) == 2
    assert 10 <= figures["fps_in_median"] <= 20 and figures["detect"]["errors"] == []


def test_idle_bench_measures_a_server_with_workers_doing_nothing() -> None:
    result = bench("idle", cameras=0, seconds=2, warmup=1, timeout=180, extra=("--workers", "2"))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["workers"] == 2 and figures["rss_mb"] > 0
    assert figures["cpu_pct"] >= figures["main_cpu_pct"] >= 0


def test_detect_vs_bare_measures_both_in_one_run() -> None:
    extra = ("--workers", "2", "--processes", "2")
    result = bench("detect-vs-bare", cameras=2, seconds=2, warmup=1, timeout=300, extra=extra)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["profile"] for r in runs] == ["detect", "bare-detect"]
    assert all(r["cpu_pct_per_camera"] > 0 for r in runs)
    assert "in 2 processes" in runs[1]["stream"]
