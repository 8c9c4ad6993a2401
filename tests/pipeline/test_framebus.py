"""The frame bus read from another process: whole frames only, in order, and a slow reader
skips (and counts) what it missed instead of reading a torn frame."""

from __future__ import annotations

import errno
import grp
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vigil.pipeline.framebus import FrameBusError, FrameBusWriter, FrameReader, bus_path

WIDTH, HEIGHT = 320, 180

# The reader process: follows the bus until it sees frame `last`, checking every frame it
# gets is whole (every pixel is the frame's own value) and that numbers only grow.
READER = """
import json, sys, time
from vigil.framebus import FrameReader
path, last = sys.argv[1], int(sys.argv[2])
reader = FrameReader(path)
print("ready", flush=True)
seen, torn, order_ok, prev = 0, 0, True, 0
deadline = time.monotonic() + 60
while prev < last and time.monotonic() < deadline:
    for frame in reader.poll():
        value = frame.number % 251
        if not (frame.gray == value).all() or frame.at != frame.number / 10:
            torn += 1
        order_ok &= frame.number > prev
        prev = frame.number
        seen += 1
    time.sleep(float(sys.argv[3]))
print(json.dumps({"seen": seen, "torn": torn, "order_ok": order_ok, "missed": reader.missed,
                  "last": prev}), flush=True)
"""


def frame(number: int) -> np.ndarray:
    return np.full((HEIGHT, WIDTH), number % 251, dtype=np.uint8)


def run_reader(path: Path, last: int, nap: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), str(last), str(nap)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def result(proc: subprocess.Popen[str]) -> dict[str, int]:
    out, _ = proc.communicate(timeout=90)
    got: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return got


def test_a_reader_process_gets_every_frame_whole_when_it_keeps_up(tmp_path: Path) -> None:
    path = bus_path(tmp_path, "door", tmp_path / "shm")
    writer = FrameBusWriter(path, WIDTH, HEIGHT, slots=8)
    last = 300
    proc = run_reader(path, last, 0.001)
    for n in range(1, last + 1):
        writer.write(frame(n), n / 10, time.time())
        time.sleep(0.005)  # ~200 fps: the reader, polling every ms, keeps up
    got = result(proc)
    writer.close()
    assert got["torn"] == 0 and got["order_ok"] and got["last"] == last
    assert got["seen"] + got["missed"] >= last - 8  # it started at the newest at most 8 in


def test_a_slow_reader_skips_frames_but_never_sees_a_torn_one(tmp_path: Path) -> None:
    path = bus_path(tmp_path, "door", tmp_path / "shm")
    writer = FrameBusWriter(path, WIDTH, HEIGHT, slots=4)
    last = 20000
    proc = run_reader(path, last, 0.0)
    for n in range(1, last + 1):  # as fast as the writer goes: far faster than the reader
        writer.write(frame(n), n / 10, None)
    got = result(proc)
    writer.close()
    assert got["torn"] == 0 and got["order_ok"] and got["last"] == last
    assert got["missed"] > 0  # it was lapped, and said so
    assert not path.exists()  # closing the writer removes the bus


def test_latest_and_header(tmp_path: Path) -> None:
    path = tmp_path / "bus" / "cam.frames"
    writer = FrameBusWriter(path, WIDTH, HEIGHT, slots=3)
    with FrameReader(path) as reader:
        assert reader.latest() is None
        assert (reader.width, reader.height, reader.slots) == (WIDTH, HEIGHT, 3)
        for n in range(1, 6):
            writer.write(frame(n), n / 10, 1000.0 + n)
        latest = reader.latest()
        assert latest is not None and latest.number == 5 and latest.wall == 1005.0
        assert reader.read(1) is None  # overwritten (3 slots)
        assert reader.read(3) is not None
    writer.close()


def test_the_bus_is_its_owners_alone_unless_a_group_is_named(tmp_path: Path) -> None:
    own = FrameBusWriter(tmp_path / "bus" / "own.frames", WIDTH, HEIGHT)
    assert stat.S_IMODE(os.stat(own.path).st_mode) == 0o600
    group = grp.getgrgid(os.getgid()).gr_name  # one vigil's user is in
    shared = FrameBusWriter(tmp_path / "bus" / "shared.frames", WIDTH, HEIGHT, group=group)
    info = os.stat(shared.path)
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o640, os.getgid())
    with FrameReader(shared.path) as reader:  # still a whole bus
        assert (reader.width, reader.height) == (WIDTH, HEIGHT)
    own.close()
    shared.close()
    with pytest.raises(FrameBusError) as caught:
        FrameBusWriter(tmp_path / "bus" / "x.frames", WIDTH, HEIGHT, group="no-such-group-x")
    assert "no-such-group-x" in str(caught.value)
    assert list((tmp_path / "bus").iterdir()) == []  # nothing half-made left behind


def test_a_full_shared_memory_fails_at_start_not_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int, offset: int, length: int) -> None:  # /dev/shm at its 64 MiB
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(FrameBusError) as caught:
        FrameBusWriter(tmp_path / "bus" / "cam.frames", WIDTH, HEIGHT)
    assert caught.value.errno == errno.ENOSPC
    assert list((tmp_path / "bus").iterdir()) == []  # nothing half-made left behind


def test_the_example_script_reads_a_bus(tmp_path: Path) -> None:
    path = tmp_path / "bus" / "cam.frames"
    writer = FrameBusWriter(path, WIDTH, HEIGHT)
    script = Path(__file__).parents[2] / "examples" / "framebus_reader.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), "--frames", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    n = 0
    while proc.poll() is None and time.monotonic() < deadline:
        n += 1
        writer.write(frame(n), n / 10, time.time())
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=10)
    writer.close()
    assert proc.returncode == 0
    lines = [line for line in out.splitlines() if line.startswith("frame")]
    assert len(lines) == 5


def test_the_detector_falls_back_to_the_storage_folder_with_e305(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from vigil.config import DetectConfig
    from vigil.media.cpu import CpuMeter
    from vigil.media.hub import PacketHub
    from vigil.pipeline.detector import Detector

    shm = tmp_path / "shm"
    shm.write_text("not a directory: like a /dev/shm that can't be used")
    detector = Detector(
        "door",
        PacketHub("door"),
        DetectConfig(framebus=True),
        hwaccel="none",
        cpu=CpuMeter(),
        log=logging.getLogger("vigil.camera.door"),
        bus_root=tmp_path / "store",
        bus_dir=shm,
    )
    caplog.set_level(logging.INFO)
    bus = detector._open_bus(WIDTH, HEIGHT)
    assert bus is not None
    assert bus.path.is_relative_to(tmp_path / "store" / "framebus")
    assert any(r.getMessage().startswith("[E305]") for r in caplog.records)
    bus.write(frame(1), 0.1, None)
    with FrameReader(bus.path) as reader:
        latest = reader.latest()
        assert latest is not None and latest.number == 1
    bus.close()
