"""The event loop is never blocked: /api/health answers within 100 ms while ten MJPEG viewers
watch and exports run back to back (JPEG encodes in the analysis pool, exports in their own
executor)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx

from tests.helpers import ServerThread, SimThread, wait_for
from tests.streaming.mjpeg_client import MjpegClient
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

VIEWERS = 10


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_health_answers_within_100_ms_under_mjpeg_viewers_and_an_export(
    sim: SimThread, tmp_path: Path
) -> None:
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
            timings = []
            with httpx.Client(timeout=5) as client:
                for _ in range(20):
                    started = time.perf_counter()
                    response = client.get(srv.url("/api/health"))
                    timings.append(time.perf_counter() - started)
                    assert response.status_code == 200
                    time.sleep(0.1)
            busy = min(frames), exports[0]
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
    ctx.index.close()
    assert busy[0] >= 10 and busy[1] >= 2  # they really ran meanwhile
    assert max(timings) < 0.1, sorted(timings)
