"""Work follows demand: a live-only camera connects for its first viewer and goes idle after
``live.idle_stop_seconds`` without one; a camera that detects or records never idles."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator

import av
import httpx2 as httpx
import pytest

from tests.helpers import ServerThread, SimThread, wait_for
from tests.streaming.mjpeg_client import MjpegClient
from tests.streaming.webrtc_client import Viewer
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data

IDLE_AFTER = 1.5


@pytest.fixture
def server(sim: SimThread) -> Iterator[tuple[ServerThread, CameraManager]]:
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
    manager = CameraManager(config.cameras)
    with ServerThread(create_app(manager)) as srv:
        yield srv, manager


def state(manager: CameraManager, name: str) -> str:
    return str(manager.status(name).state)


def test_a_live_only_camera_connects_for_viewers_and_idles_without(
    server: tuple[ServerThread, CameraManager],
) -> None:
    srv, manager = server
    assert state(manager, "lobby") == "idle"
    assert [i.state for i in manager.status("lobby").inputs] == ["idle"]
    time.sleep(0.5)
    assert state(manager, "lobby") == "idle"  # nobody watches: nothing connects
    with httpx.Client(timeout=20) as client:
        response = client.get(srv.url("/api/cameras/lobby/snapshot.jpg"))  # the first viewer
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content), "r") as jpeg:
        assert next(jpeg.decode(video=0)).width == 320
    assert int(response.headers["age"]) <= 1
    assert state(manager, "lobby") == "streaming"
    wait_for(lambda: state(manager, "lobby") == "idle", IDLE_AFTER + 3, "idle after the timeout")

    viewer = MjpegClient(srv.port, "/api/cameras/lobby/mjpeg")  # back for the next viewer
    try:
        viewer.part()  # a fresh frame, never the one from before it idled
        assert state(manager, "lobby") == "streaming"
        time.sleep(IDLE_AFTER + 1)
        assert state(manager, "lobby") == "streaming"  # a viewer is watching: no idling
    finally:
        viewer.close()
    wait_for(lambda: state(manager, "lobby") == "idle", IDLE_AFTER + 3, "idle again")

    assert state(manager, "yard") == "streaming"  # it detects: it never idled


def test_a_webrtc_viewer_connects_an_idle_camera_and_it_idles_after(
    server: tuple[ServerThread, CameraManager],
) -> None:
    srv, manager = server
    assert state(manager, "lobby") == "idle"

    async def watch() -> None:
        viewer = Viewer()
        response = await viewer.connect(srv.url("/api/cameras/lobby/webrtc"))
        assert response.status_code == 201, response.text
        await viewer.wait_frames(10, 20)  # decodable frames: the camera connected for it
        assert {(f.width, f.height) for f in viewer.frames} == {(320, 180)}
        assert state(manager, "lobby") == "streaming"
        await asyncio.sleep(IDLE_AFTER + 1)
        assert state(manager, "lobby") == "streaming"  # a viewer is watching: no idling
        async with httpx.AsyncClient() as client:
            assert (await client.delete(srv.url(viewer.location))).status_code == 204
        await viewer.pc.close()

    asyncio.run(watch())
    wait_for(lambda: state(manager, "lobby") == "idle", IDLE_AFTER + 3, "idle after WebRTC")


def test_a_stopped_camera_has_no_snapshot(server: tuple[ServerThread, CameraManager]) -> None:
    srv, manager = server
    manager.stop_camera("lobby")
    with httpx.Client(timeout=20) as client:
        started = time.monotonic()
        response = client.get(srv.url("/api/cameras/lobby/snapshot.jpg"))
        assert time.monotonic() - started < 2  # no wait for a frame that can't come
    assert response.status_code == 503
    assert response.json()["code"] == "E502"
    assert state(manager, "lobby") == "stopped"  # and a snapshot doesn't start it
