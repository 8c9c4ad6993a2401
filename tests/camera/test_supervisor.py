"""Supervised ingest against real sockets: the simulator, dead ports, silent peers, files."""

from __future__ import annotations

import http.server
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest

from tests.helpers import (
    CAM_SECRET,
    CAM_USER,
    SMALL,
    ManualClock,
    SimThread,
    free_port,
    make_video,
    wait_for,
)
from vigil.camera.reader import Timing
from vigil.camera.state import State
from vigil.camera.status import CameraStatus, InputStatus
from vigil.camera.supervisor import CameraSupervisor
from vigil.config import CameraConfig
from vigil.media.clock import MONOTONIC, Clock
from vigil.sim.server import build_cameras
from vigil.sources.url import parse_source

FAST = Timing(open_timeout=3.0, stall=3.0)


def camera(
    url: str,
    name: str = "cam",
    timing: Timing = FAST,
    clock: Clock = MONOTONIC,
    **extra: object,
) -> CameraSupervisor:
    config = CameraConfig.model_validate({"inputs": [{"url": url, **extra}]})
    return CameraSupervisor(name, config, timing=timing, clock=clock)


def sample_until(
    cam: CameraSupervisor, predicate: Callable[[CameraStatus], object], timeout: float, what: str
) -> CameraStatus:
    """Drive the figures (as the manager's monitor does) until predicate(status) holds."""

    def check() -> CameraStatus | None:
        cam.tick(time.monotonic())
        status = cam.status()
        return status if predicate(status) else None

    return wait_for(check, timeout, what)


def code_of(status: CameraStatus) -> str | None:
    """The code of the camera's last error; None if it has none."""
    return status.last_error.code if status.last_error else None


def first_error(url: str, what: str, timeout: float = 15) -> CameraStatus:
    """Start a camera on `url`, return its status once it reports an error, and stop it."""
    cam = camera(url)
    cam.start()
    try:
        return sample_until(cam, lambda s: s.last_error is not None, timeout, what)
    finally:
        cam.stop()


def waiting_after_try(cam: CameraSupervisor, clock: ManualClock, tries: int) -> InputStatus:
    """The input once its `tries`-th failed try is counted and its reader waits out the
    backoff on `clock` (which only the test moves)."""
    status = sample_until(
        cam, lambda s: s.reconnects == tries and clock.waiting > 0, 15, f"failed try {tries}"
    )
    return status.inputs[0]


@pytest.fixture
def own_sim() -> Iterator[SimThread]:
    """Cameras whose faults a test may change."""
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as server:
        yield server


def test_rtsp_camera_streams_at_source_rate(sim: SimThread) -> None:
    cam = camera(sim.url("cam1"))
    cam.start()
    try:
        status = sample_until(
            cam,
            lambda s: (
                s.state is State.STREAMING
                and abs(s.fps_in - 15) <= 0.75
                and s.inputs[0].uptime
                and s.inputs[0].uptime > 5
            ),
            20,
            "15 fps",
        )
        assert status.inputs[0].codec == "h264"
        assert (status.inputs[0].width, status.inputs[0].height) == (320, 180)
        assert status.inputs[0].bytes_per_s > 0
        assert status.cpu_pct is not None and status.cpu_pct >= 0
        assert cam.thread_ids() and all(isinstance(t, int) for t in cam.thread_ids())
    finally:
        assert cam.stop() == []
    assert cam.state is State.STOPPED


def test_file_camera_is_paced_like_a_camera(video_file: Path) -> None:
    cam = camera(f"file://{video_file}")
    cam.start()
    try:
        # a 2 s clip: looping and pacing keep 15 fps well past its end
        sample_until(
            cam,
            lambda s: abs(s.fps_in - 15) <= 0.75 and s.inputs[0].uptime and s.inputs[0].uptime > 6,
            20,
            "paced 15 fps",
        )
        assert cam.status().reconnects == 0
    finally:
        cam.stop()


def test_credentials_never_reach_logs_or_status(
    sim: SimThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = sim.url("cam3").replace("rtsp://", f"rtsp://{CAM_USER}:{CAM_SECRET}@")
    clock = ManualClock()
    good = camera(url, "good")
    bad = camera(
        sim.url("cam3"), "bad", clock=clock, username=CAM_USER, password="wrong-" + CAM_SECRET
    )
    good.start()
    bad.start()
    try:
        sample_until(good, lambda s: s.state is State.STREAMING, 15, "auth camera")
        waiting = waiting_after_try(bad, clock, 1)
        status = bad.status()
        assert code_of(status) == "E203"
        assert status.state is State.RECONNECTING
        assert waiting.backoff == 300 and waiting.retry_in == 300  # cameras lock accounts
    finally:
        good.stop()
        bad.stop()
    text = caplog.text + repr(good.status()) + repr(bad.status())
    assert CAM_SECRET not in text
    assert CAM_USER not in text.replace("vigil", "")  # user names are redacted too


def test_dead_port_backs_off_then_recovers_and_others_stream_on(sim: SimThread) -> None:
    port = free_port()
    clock = ManualClock()
    dead = camera(f"rtsp://127.0.0.1:{port}/cam1/main", "dead", clock=clock)
    other = camera(sim.url("cam2"), "other")
    other.start()
    sample_until(other, lambda s: s.state is State.STREAMING, 15, "other streaming")
    samples: list[tuple[State, int, int]] = []
    watching = threading.Event()

    def watch_other() -> None:  # the whole time the dead camera fails and recovers
        while not watching.wait(0.2):
            s = other.status()
            samples.append((s.state, s.reconnects, other.inputs[0].counters.video_packets))

    watcher = threading.Thread(target=watch_other)
    watcher.start()
    dead.start()
    try:
        first = waiting_after_try(dead, clock, 1)
        assert first.backoff == 1 and first.retry_in == 1  # nothing of the wait has passed
        assert dead.status().state is State.RECONNECTING
        assert code_of(dead.status()) == "E201"
        clock.advance(1)  # the wait is over: the second try is refused too, and waits twice as long
        second = waiting_after_try(dead, clock, 2)
        assert second.backoff == 2 and second.retry_in == 2
        revived = build_cameras(1, SMALL, None, quiet=True)
        with SimThread(revived, port=port):
            clock.advance(1)
            assert dead.status().inputs[0].retry_in == 1  # half way: still waiting
            clock.advance(1)  # the wait is over, and the camera is back
            sample_until(dead, lambda s: s.state is State.STREAMING, 15, "recovery")
            seen = len(samples)
            wait_for(lambda: len(samples) >= seen + 5, 10, "the other camera after the recovery")
    finally:
        watching.set()
        watcher.join(5)
        dead.stop()
        other.stop()
    assert len(samples) > 5
    assert all(state is State.STREAMING and n == 0 for state, n, _ in samples)
    frames = [f for _, _, f in samples]
    # ~15 fps throughout: at least 1 new frame in each 1 s of samples
    assert all(later > earlier for earlier, later in zip(frames, frames[5:], strict=False))


@pytest.mark.parametrize(("fault", "code"), [("drop_after", "E206"), ("stall_after", "E205")])
def test_stream_that_stops_midway_reconnects(own_sim: SimThread, fault: str, code: str) -> None:
    cam = camera(own_sim.url("cam1"))
    cam.start()
    try:
        sample_until(cam, lambda s: s.state is State.STREAMING, 15, "streaming")
        own_sim.set_faults("cam1", **{fault: 0.5})
        status = sample_until(cam, lambda s: s.last_error is not None, 15, f"{code}")
        assert code_of(status) == code
        assert status.reconnects >= 1
        own_sim.set_faults("cam1", **{fault: None})
        sample_until(cam, lambda s: s.state is State.STREAMING, 15, "streaming again")
    finally:
        cam.stop()


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A listener that completes TCP handshakes but never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


@pytest.fixture
def silent_port(silent: socket.socket) -> int:
    return int(silent.getsockname()[1])


def connected(listener: socket.socket, timeout: float) -> bool:
    """Whether a client's connection waits on `listener` (within `timeout` seconds)."""
    readable, _, _ = select.select([listener], [], [], timeout)
    return bool(readable)


def test_host_that_never_answers_is_e202(silent_port: int) -> None:
    status = first_error(f"rtsp://127.0.0.1:{silent_port}/x", "timeout", 10)
    assert code_of(status) == "E202"
    assert status.state is State.RECONNECTING


def test_not_found_path_is_e204(sim: SimThread) -> None:
    status = first_error(sim.url("cam9"), "404", 10)
    assert code_of(status) == "E204"


def test_stop_abandons_a_blocked_reader_which_then_cannot_write(
    silent: socket.socket, sim: SimThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = silent.getsockname()[1]
    cam = camera(f"rtsp://127.0.0.1:{port}/x", "blocked", Timing(open_timeout=6, stall=6))
    cam.start()
    assert connected(silent, 10)  # the reader is in its connect, waiting for an answer
    abandoned = cam.stop()  # waits STOP_TIMEOUT (2 s) for it, not its 6 s connect timeout
    assert len(abandoned) == 1 and abandoned[0].is_alive()
    # restart the same camera (same input, same hub) on a source that works
    cam.inputs[0].spec = parse_source(sim.url("cam1"))
    sub = cam.inputs[0].hub.subscribe("consumer")
    cam.start()
    sample_until(cam, lambda s: s.state is State.STREAMING, 15, "restarted")
    abandoned[0].join(10)  # the old thread times out (E202) and ends on its own
    assert not abandoned[0].is_alive()
    try:
        status = cam.status()
        assert status.state is State.STREAMING
        assert status.last_error is None and status.reconnects == 0
        assert "E202" not in caplog.text  # the stale thread logged and published nothing
        item = sub.get(timeout=5)
        assert item is not None and item.info.width == 320
    finally:
        cam.stop()


def test_no_video_in_a_file_fails_for_good(tmp_path: Path) -> None:
    audio_only = make_video(tmp_path / "audio.mp4", video=False, audio=True)
    cam = camera(f"file://{audio_only}")
    cam.start()
    try:
        status = sample_until(cam, lambda s: s.state is State.FAILED, 10, "failed")
        assert code_of(status) == "E301"
    finally:
        cam.stop()


def test_missing_file_fails_with_e211(tmp_path: Path) -> None:
    cam = camera(f"file://{tmp_path}/nope.mp4")
    cam.start()
    try:
        status = sample_until(cam, lambda s: s.state is State.FAILED, 10, "failed")
        assert code_of(status) == "E211"
    finally:
        cam.stop()


def test_missing_usb_device_is_e208_and_retried() -> None:
    device = next(f"/dev/video{n}" for n in range(90, 99) if not os.path.exists(f"/dev/video{n}"))
    status = first_error(f"usb://{device}?size=640x480", "E208", 10)
    assert code_of(status) == "E208"
    assert status.state is State.RECONNECTING


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:  # bounded: a camera spewing noise
                self.wfile.write(os.urandom(16 * 1024))
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_url_serving_garbage_is_e303() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status = first_error(f"http://127.0.0.1:{server.server_address[1]}/video", "E303", 15)
        assert code_of(status) == "E303"
        assert status.state is State.RECONNECTING
    finally:
        server.shutdown()
        server.server_close()


def test_audio_packets_are_published_beside_video() -> None:
    cameras = build_cameras(1, SMALL, None, quiet=True, audio={"cam1": "pcmu"})
    with SimThread(cameras) as server:
        cam = camera(server.url("cam1"))
        sub = cam.inputs[0].hub.subscribe("consumer", maxsize=1000)
        cam.start()
        try:
            kinds: set[bool] = set()
            deadline = time.monotonic() + 15
            while kinds != {True, False} and time.monotonic() < deadline:
                item = sub.get(timeout=1)
                if item is not None:
                    kinds.add(item.is_video)
                    info = item.info
            assert kinds == {True, False}
            assert info.audio is not None and info.audio.codec_context.name == "pcm_mulaw"
        finally:
            cam.stop()


def test_backoff_resets_after_a_healthy_spell(own_sim: SimThread) -> None:
    clock = ManualClock()
    healthy_spell = 60.0
    timing = Timing(open_timeout=3, stall=3, reset_after=healthy_spell)
    own_sim.set_faults("cam1", refuse=True)  # every connection is closed at once
    cam = camera(own_sim.url("cam1"), "healthy", timing, clock=clock)
    cam.start()
    try:
        assert waiting_after_try(cam, clock, 1).backoff == 1
        clock.advance(1)
        assert waiting_after_try(cam, clock, 2).backoff == 2  # a short life: the wait grows
        own_sim.set_faults("cam1", refuse=False)
        clock.advance(2)
        sample_until(cam, lambda s: s.state is State.STREAMING, 15, "streaming again")
        clock.advance(healthy_spell)  # it streams that long, then the camera drops it
        own_sim.set_faults("cam1", refuse=True)
        assert waiting_after_try(cam, clock, 3).backoff == 1  # back to the first step
    finally:
        cam.stop()


def test_watchdog_restarts_an_input_stuck_while_streaming(silent_port: int) -> None:
    cam = camera(f"rtsp://127.0.0.1:{silent_port}/x", "stuck", Timing(open_timeout=8, stall=2))
    cam.start()
    try:
        item = cam.inputs[0]
        old_thread = item.thread_id
        # as if the reader had streamed and then hung somewhere no timeout reaches
        item.state = State.STREAMING
        item.counters.last_packet = time.monotonic() - 10
        cam.tick(time.monotonic())
        status = cam.status()
        assert code_of(status) == "E205"
        assert status.reconnects == 1
        assert item.thread_id != old_thread  # a fresh reader; the stuck one is abandoned
    finally:
        cam.stop()


def test_tags_that_are_not_utf8_do_not_kill_the_reader(tmp_path: Path) -> None:
    """Cameras (and garbage) can carry metadata in any encoding; PyAV's strict decoding of
    it raised out of av.open and ended the reader thread."""
    clean = make_video(tmp_path / "clean.mp4", seconds=2)
    tagged = tmp_path / "tagged.mp4"
    with av.open(str(clean)) as src, av.open(str(tagged), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        out.metadata["title"] = "ZZZZZZ"
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = tagged.read_bytes()
    assert data.count(b"ZZZZZZ") == 1
    tagged.write_bytes(data.replace(b"ZZZZZZ", b"Z\xe5Z\xffZZ"))  # not UTF-8
    cam = camera(f"file://{tagged}")
    cam.start()
    try:
        sample_until(cam, lambda s: s.state is State.STREAMING, 15, "streaming")
        assert all(i.thread_id is not None for i in cam.inputs)
    finally:
        cam.stop()


def test_a_stop_during_the_watchdogs_pass_restarts_nothing(
    sim: SimThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog finds a stalled input and, in that moment, the camera is stopped (a
    removal through the API, say). It must not start a reader for a camera being removed."""
    from vigil.camera import supervisor as supervisor_module

    cam = camera(sim.url("cam1"))
    cam.start()
    try:
        wait_for(lambda: cam.inputs[0].state is State.STREAMING, 15, "streaming")
        real_error = supervisor_module.SourceError  # type: ignore[attr-defined]

        def stop_in_between(message: str, *, code: str) -> Exception:
            cam.request_stop()  # the stop lands between the stall check and the restart
            return real_error(message, code=code)

        monkeypatch.setattr(supervisor_module, "SourceError", stop_in_between)
        stalled = time.monotonic() + FAST.stall * 10  # long after the last packet
        cam.tick(stalled)
        assert cam.inputs[0]._reader is None  # no reader started for the stopping camera
        assert cam.inputs[0].counters.reconnects == 0
    finally:
        cam.stop(timeout=5)
