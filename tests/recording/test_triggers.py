"""Concurrent triggers on one camera: eight threads trigger an events-mode recording 40
times at once, through the real API, while it records from a real camera. Every answer is
202, the recording is one event from the first trigger's pre_seconds to the last one's
post_seconds, its segments neither overlap nor repeat a frame, and every file decodes."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime
from pathlib import Path

import av
from fastapi.testclient import TestClient

from tests.helpers import SMALL, SimThread, wait_for
from vigil.api.app import create_app
from vigil.camera.manager import CameraManager
from vigil.config import CameraConfig
from vigil.recording.recorder import RecordingContext
from vigil.sim.server import build_cameras
from vigil.storage.index import Index

THREADS = 8
EACH = 5
PRE, POST = 1.0, 3.0


def test_triggers_from_many_threads_at_once_make_one_whole_event(tmp_path: Path) -> None:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as sim:
        config = CameraConfig.model_validate(
            {
                "inputs": [{"url": sim.url("cam1")}],
                "record": {
                    "mode": "events",
                    "segment_seconds": 2,
                    "pre_seconds": PRE,
                    "post_seconds": POST,
                },
                "detect": {"enabled": False},
            }
        )
        manager = CameraManager({"yard": config}, recording=ctx)
        with TestClient(create_app(manager)) as client:
            recorder = manager.get("yard").recorder
            assert recorder is not None
            wait_for(lambda: recorder.prebuffer.span >= PRE, 30, "the pre-buffer filled")
            answers: list[tuple[int, float, float]] = []
            lock = threading.Lock()
            go = threading.Barrier(THREADS)

            def trigger() -> None:
                go.wait()
                for _ in range(EACH):
                    r = client.post("/api/cameras/yard/events")
                    body = r.json()
                    window = (
                        datetime.fromisoformat(body["start"]).timestamp(),
                        datetime.fromisoformat(body["end"]).timestamp(),
                    )
                    with lock:
                        answers.append((r.status_code, *window))

            threads = [threading.Thread(target=trigger) for _ in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert all(code == 202 for code, _, _ in answers) and len(answers) == THREADS * EACH
            first = min(start for _, start, _ in answers) + PRE  # the earliest trigger
            last = max(end for _, _, end in answers) - POST  # and the latest
            wait_for(
                lambda: (
                    max((r.end for r in ctx.index.segments("yard")), default=0) >= last + POST - 0.5
                ),
                30,
                "the event recorded to post_seconds after the last trigger",
            )
            wait_for(lambda: recorder._writer is None, 30, "the event closed")
        manager.shutdown()
    rows = sorted(ctx.index.segments("yard"), key=lambda r: r.start)
    ctx.index.close()
    frame = 1 / SMALL.fps
    assert rows[0].start <= first - PRE + frame  # back to the pre-buffer's key frame
    assert rows[-1].end <= last + POST + 0.5  # ... and no further: one event, not forty
    for earlier, later in itertools.pairwise(rows):
        assert abs(later.start - earlier.end) < frame, (earlier, later)  # one run, in step
    for row in rows:
        assert row.has_event
        with av.open(str(tmp_path / row.path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert abs(frames * frame - row.duration) <= frame, row
