"""The event loop is never blocked: JPEG encodes run in the analysis pool and exports in their
own executor, so /api/health answers under ten MJPEG viewers and back-to-back exports about
as fast as it does on an idle server, measured in the same test."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.helpers import ServerThread, SimThread, wait_for
from tests.streaming.mjpeg_client import MjpegClient
from vigil.api import create_app
from vigil.api import recordings as recordings_routes
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.media.jpeg import JpegEncoder
from vigil.recording.export import export as export_footage
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

VIEWERS = 10
SLOWER = 5  # the loaded median may be this many times the idle one (a blocked loop: far more)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def health_latencies(srv: ServerThread, count: int = 20) -> list[float]:
    timings = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(srv.url("/api/health"))
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
            time.sleep(0.1)  # spacing, so the samples spread over the load
    return timings


class Threads:
    """Records the threads a function runs on."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def wrap(self, fn: Any) -> Any:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.seen.add(threading.get_ident())
            return fn(*args, **kwargs)

        return recorded


def test_health_answers_as_on_an_idle_server_under_mjpeg_viewers_and_exports(
    sim: SimThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encodes, exports_ran = Threads(), Threads()
    monkeypatch.setattr(JpegEncoder, "encode", encodes.wrap(JpegEncoder.encode))
    monkeypatch.setattr(recordings_routes, "export", exports_ran.wrap(export_footage))
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    config = validate_data(
        {
            "cameras": {
                "yard": {
                    "inputs": [{"url": sim.url("cam1")}],
                    "record": {"segment_seconds": 2},
                    "live": {"mjpeg_fps": 10},
                }
            }
        }
    )
    manager = CameraManager(config.cameras, recording=ctx)
    stop = threading.Event()
    with ServerThread(create_app(manager)) as srv:
        cam = manager.get("yard")
        wait_for(
            lambda: cam.recorder is not None and cam.recorder.segments_written >= 2, 20, "footage"
        )
        idle = health_latencies(srv)  # the baseline: the same server, nobody watching
        segments = ctx.index.segments("yard")
        span = {"start": iso(segments[0].start), "end": iso(segments[-1].start)}
        frames = [0] * VIEWERS
        exports = [0]

        def watch(i: int) -> None:
            client = MjpegClient(srv.port, "/api/cameras/yard/mjpeg")
            try:
                while not stop.is_set():
                    client.part()
                    frames[i] += 1
            finally:
                client.close()

        def export() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    response = client.get(srv.url("/api/cameras/yard/export"), params=span)
                    assert response.status_code == 200, response.text
                    exports[0] += 1

        workers = [threading.Thread(target=watch, args=(i,)) for i in range(VIEWERS)]
        workers.append(threading.Thread(target=export))
        for worker in workers:
            worker.start()
        try:
            wait_for(lambda: min(frames) >= 3 and exports[0] >= 1, 20, "viewers and exports")
            assert manager.status("yard").viewers == VIEWERS
            loaded = health_latencies(srv)
            busy = min(frames), exports[0]
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
        loop_thread = srv.thread.ident
    ctx.index.close()
    assert busy[0] >= 10 and busy[1] >= 2  # they really ran meanwhile
    assert encodes.seen and exports_ran.seen
    assert loop_thread not in encodes.seen | exports_ran.seen  # never on the event loop
    assert statistics.median(loaded) <= SLOWER * statistics.median(idle), (idle, loaded)
