"""What clients get from the simulator: the promised streams, for PyAV and for ffmpeg."""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
import time
from collections.abc import Iterator

import av
import imageio_ffmpeg
import pytest

from tests.helpers import SMALL, LibavWarnings, SimThread, seconds_between
from vigil.sim.media import SUB, ClipSpec
from vigil.sim.server import build_cameras

MAIN_SHORT = ClipSpec(seconds=4)  # the default main stream's size, rate, GOP and bitrate
SUB_SHORT = ClipSpec(
    width=SUB.width, height=SUB.height, fps=SUB.fps, gop=SUB.gop, bitrate=SUB.bitrate, seconds=4
)


@pytest.fixture(scope="module")
def camera_like() -> Iterator[SimThread]:
    """A camera with the default main and sub stream shapes (4 s clips, looped)."""
    with SimThread(build_cameras(1, MAIN_SHORT, SUB_SHORT, quiet=True)) as server:
        yield server


def _read(url: str, seconds: float, out: dict[str, object]) -> None:
    keys, frames, sizes = [], 0, set()
    rate = None
    with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        first = None
        for packet in container.demux(stream):
            # FFmpeg's RTP demuxer gives the first packet no pts
            if packet.pts is not None:
                first = packet.pts if first is None else first
                if seconds_between(first, packet.pts, stream.time_base) >= seconds:
                    break
            if packet.is_keyframe:
                keys.append(frames)
            for frame in packet.decode():
                sizes.add((frame.width, frame.height))
                frames += 1
    out.update(keys=keys, frames=frames, sizes=sizes, rate=rate)


def test_pyav_reads_main_and_sub_as_promised_without_warnings(camera_like: SimThread) -> None:
    results: dict[str, dict[str, object]] = {"main": {}, "sub": {}}
    with LibavWarnings() as warnings:
        threads = [
            threading.Thread(target=_read, args=(camera_like.url("cam1", s), 10.0, results[s]))
            for s in results
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    for name, spec in (("main", MAIN_SHORT), ("sub", SUB_SHORT)):
        got = results[name]
        assert got["sizes"] == {(spec.width, spec.height)}, name
        assert float(got["rate"]) == spec.fps, name  # type: ignore[arg-type]
        assert got["frames"] == 10 * spec.fps + 1, name  # the first (no pts) + 10 s
        keys = got["keys"]
        assert isinstance(keys, list) and len(keys) >= 4
        assert {b - a for a, b in itertools.pairwise(keys)} == {spec.gop}, name
    assert warnings.messages == []


def test_ffmpeg_binary_decodes_both_streams_cleanly(camera_like: SimThread) -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    procs = {
        s: subprocess.Popen(
            [
                ffmpeg,
                "-hide_banner",
                "-loglevel",
                "warning",
                "-stats",
                "-rtsp_transport",
                "tcp",
                "-i",
                camera_like.url("cam1", s),
                "-t",
                "10",
                "-f",
                "null",
                "-",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in ("main", "sub")
    }
    for name, spec in (("main", MAIN_SHORT), ("sub", SUB_SHORT)):
        _, err = procs[name].communicate(timeout=60)
        assert procs[name].returncode == 0, err
        frames = int(re.findall(r"frame=\s*(\d+)", err)[-1])
        assert abs(frames - 10 * spec.fps) <= 2, err
        problems = [
            line
            for line in err.splitlines()
            if re.search(r"error|corrupt|concealing|missing|non monoton", line, re.I)
        ]
        assert problems == [], problems


def test_eight_clients_each_get_real_time(sim: SimThread) -> None:
    results: list[tuple[int, float, float]] = []
    lock = threading.Lock()

    def client() -> None:
        t0 = time.monotonic()
        with av.open(sim.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
            stream = c.streams.video[0]
            first, count = None, 0
            for packet in c.demux(stream):
                if packet.pts is None:
                    continue
                first = packet.pts if first is None else first
                count += 1
                if count == 5 * SMALL.fps:
                    span = seconds_between(first, packet.pts, stream.time_base)
                    with lock:
                        results.append((count, span, time.monotonic() - t0))
                    return

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8
    for _count, span, wall in results:
        assert abs(span - (5 - 1 / SMALL.fps)) < 0.01  # timestamps: 5 s of video
        assert wall > 4.8  # arriving in real time, not in a burst


def test_timestamps_are_monotonic_across_the_loop_point(sim: SimThread) -> None:
    # The small clip is 4 s; read 10 s of it.
    with av.open(sim.url("cam2"), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
        stream = c.streams.video[0]
        pts: list[int] = []
        for packet in c.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= 10 * SMALL.fps:
                break
    steps = {b - a for a, b in itertools.pairwise(pts)}
    assert len(steps) == 1 and steps.pop() > 0
