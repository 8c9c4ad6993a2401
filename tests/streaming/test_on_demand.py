"""Work follows demand: a live-only camera connects for its first viewer and goes idle after
``live.idle_stop_seconds`` without one; a camera that detects or records never idles.

The idle timer runs on a clock the tests move by hand, so five idle minutes pass at once."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import httpx2 as httpx
import pytest

from tests.helpers import ManualClock, ServerThread, SimThread, monitor_passes, wait_for
from tests.streaming.mjpeg_client import MjpegClient
from tests.streaming.webrtc_client import Viewer
from vigil.api import create_app
from vigil.api import live as live_routes
from vigil.camera.manager import CameraManager
from vigil.config import validate_data

IDLE_AFTER = 300.0  # the default live.idle_stop_seconds


@dataclass
class Served:
    server: ServerThread
    manager: CameraManager
    clock: ManualClock

    def state(self, name: str) -> str:
        return str(self.manager.status(name).state)

    def unwatched(self, name: str) -> None:
        """Wait until `name` has no viewer (the server saw the last one go)."""
        wait_for(lambda: self.manager.status(name).viewers == 0, 10, f"{name} unwatched")


@pytest.fixture
def server(sim: SimThread) -> Iterator[Served]:
    live = {"idle_stop_seconds": IDLE_AFTER, "mjpeg_fps": 5}
    config = validate_data(
        {
            "cameras": {
                "lobby": {  # live only: no detection, no recording
                    "inputs": [{"url": sim.url("cam1"), "roles": ["live"]}],
                    "record": {"mode": "off"},
                    "detect": {"enabled": False},
                    "live": live,
                },
                "yard": {  # detects: never idles
                    "inputs": [{"url": sim.url("cam2")}],
                    "record": {"mode": "off"},
                    "live": live,
                },
            }
        }
    )
    clock = ManualClock()
    manager = CameraManager(config.cameras, clock=clock)
    with ServerThread(create_app(manager)) as srv:
        yield Served(srv, manager, clock)


def test_a_live_only_camera_connects_for_viewers_and_idles_without(server: Served) -> None:
    srv, manager, clock = server.server, server.manager, server.clock
    assert server.state("lobby") == "idle"
    assert [i.state for i in manager.status("lobby").inputs] == ["idle"]
    clock.advance(2 * IDLE_AFTER)
    monitor_passes(manager, 2)
    assert server.state("lobby") == "idle"  # nobody watches: nothing connects
    with httpx.Client(timeout=20) as client:
        started = time.monotonic()
        response = client.get(srv.url("/api/cameras/lobby/snapshot.jpg"))  # the first viewer
        asked = time.monotonic() - started
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content), "r") as jpeg:
        assert next(jpeg.decode(video=0)).width == 320
    assert int(response.headers["age"]) <= asked  # decoded for this request, not kept from before
    assert server.state("lobby") == "streaming"
    server.unwatched("lobby")
    monitor_passes(manager, 2)
    assert server.state("lobby") == "streaming"  # not idle before its time
    clock.advance(IDLE_AFTER)
    wait_for(lambda: server.state("lobby") == "idle", 15, "idle after the timeout")

    viewer = MjpegClient(srv.port, "/api/cameras/lobby/mjpeg")  # back for the next viewer
    try:
        viewer.part()  # a fresh frame, never the one from before it idled
        assert server.state("lobby") == "streaming"
        clock.advance(2 * IDLE_AFTER)
        monitor_passes(manager, 2)
        assert server.state("lobby") == "streaming"  # a viewer is watching: no idling
    finally:
        viewer.close()
    server.unwatched("lobby")
    clock.advance(IDLE_AFTER)
    wait_for(lambda: server.state("lobby") == "idle", 15, "idle again")

    assert server.state("yard") == "streaming"  # it detects: it never idled


def test_a_webrtc_viewer_connects_an_idle_camera_and_it_idles_after(server: Served) -> None:
    srv, manager, clock = server.server, server.manager, server.clock
    assert server.state("lobby") == "idle"

    async def watch() -> None:
        viewer = Viewer()
        response = await viewer.connect(srv.url("/api/cameras/lobby/webrtc"))
        assert response.status_code == 201, response.text
        await viewer.wait_frames(10, 20)  # decodable frames: the camera connected for it
        assert {(f.width, f.height) for f in viewer.frames} == {(320, 180)}
        assert server.state("lobby") == "streaming"
        clock.advance(2 * IDLE_AFTER)
        await asyncio.to_thread(monitor_passes, manager, 2)
        assert server.state("lobby") == "streaming"  # a viewer is watching: no idling
        async with httpx.AsyncClient() as client:
            assert (await client.delete(srv.url(viewer.location))).status_code == 204
        await viewer.pc.close()

    asyncio.run(watch())
    server.unwatched("lobby")
    clock.advance(IDLE_AFTER)
    wait_for(lambda: server.state("lobby") == "idle", 15, "idle after WebRTC")


def test_a_stopped_camera_has_no_snapshot(server: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, manager = server.server, server.manager
    # a snapshot that waited for a frame would outlast the client's 20 s: none can come
    monkeypatch.setattr(live_routes, "SNAPSHOT_WAIT", 3600.0)
    manager.stop_camera("lobby")
    with httpx.Client(timeout=20) as client:
        response = client.get(srv.url("/api/cameras/lobby/snapshot.jpg"))
    assert response.status_code == 503
    assert response.json()["code"] == "E502"
    assert server.state("lobby") == "stopped"  # and a snapshot doesn't start it
