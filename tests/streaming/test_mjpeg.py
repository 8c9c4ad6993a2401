"""MJPEG and snapshots over a real HTTP server: one encode per frame shared by every viewer,
the rate and size caps, slow and gone clients, snapshots with an Age header."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import av
import httpx2 as httpx
import pytest

from tests.helpers import ServerThread, SimThread, camera_service, wait_for
from tests.streaming.mjpeg_client import MjpegClient, Part
from vigil.api import create_app
from vigil.camera.cameras import Cameras
from vigil.camera.manager import CameraManager
from vigil.config import LiveConfig, validate_data
from vigil.streaming.live import LiveFeed, LiveFrame
from vigil.streaming.mjpeg import mjpeg_stream

MJPEG_FPS = 5
MJPEG_WIDTH = 160  # the simulator's frames are 320x180


def decoded_frames(manager: CameraManager, camera: str) -> int:
    """Frames the camera's detection has decoded so far."""
    detect = manager.status(camera).detect
    assert detect is not None
    return detect.frames.get("decoded", 0)


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(jpeg), "r") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


@contextmanager
def serving(sim: SimThread, workers: int) -> Iterator[tuple[ServerThread, Cameras]]:
    live = {"mjpeg_fps": MJPEG_FPS, "mjpeg_width": MJPEG_WIDTH}
    config = validate_data(
        {
            "cameras": {
                # detect and live on one input: live view taps the detect decoder
                "front": {
                    "inputs": [{"url": sim.url("cam1")}],
                    "record": {"mode": "off"},
                    "live": live,
                },
                # live on its own input: a live decoder runs while watched
                "split": {
                    "inputs": [
                        {"url": sim.url("cam2"), "roles": ["detect"]},
                        {"url": sim.url("cam4"), "roles": ["live"]},
                    ],
                    "record": {"mode": "off"},
                    "live": live,
                },
            }
        }
    )
    manager = camera_service(config.cameras, workers)
    with ServerThread(create_app(manager)) as srv:
        wait_for(lambda: all(s.state == "streaming" for s in manager.statuses()), 30, "streaming")
        yield srv, manager


@pytest.fixture
def server(sim: SimThread) -> Iterator[tuple[ServerThread, CameraManager]]:
    """One process: for the tests that look inside the camera (its feed's encodes, its
    threads)."""
    with serving(sim, 1) as (srv, manager):
        assert isinstance(manager, CameraManager)
        yield srv, manager


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def any_server(
    sim: SimThread, request: pytest.FixtureRequest
) -> Iterator[tuple[ServerThread, Cameras]]:
    """What a viewer sees over HTTP, from one process and from two worker processes."""
    with serving(sim, request.param) as served:
        yield served


def read_parts(client: MjpegClient, seconds: float) -> list[Part]:
    parts: list[Part] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        parts.append(client.part())
    return parts


@pytest.mark.parametrize("camera", ["front", "split"])
def test_viewers_share_one_encode_per_frame_at_the_capped_rate_and_size(
    server: tuple[ServerThread, CameraManager], camera: str
) -> None:
    srv, manager = server
    feed = manager.get(camera).live
    before = feed.encodes
    clients = [MjpegClient(srv.port, f"/api/cameras/{camera}/mjpeg") for _ in range(4)]
    assert all(c.status == 200 and "multipart/x-mixed-replace" in c.headers for c in clients)
    results: dict[int, list[Part]] = {}

    def read(i: int, client: MjpegClient) -> None:
        client.part()  # the first frame can take one GOP
        results[i] = read_parts(client, 3.0)

    threads = [threading.Thread(target=read, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wait_for(lambda: manager.status(camera).viewers == 4, 5, "4 viewers counted")
    for client in clients:
        client.close()
    wait_for(lambda: manager.status(camera).viewers == 0, 10, "viewers gone")
    stopped_at = feed.encodes
    decoded = decoded_frames(manager, camera)
    wait_for(lambda: decoded_frames(manager, camera) >= decoded + 15, 10, "15 frames decoded")
    assert feed.encodes == stopped_at  # the camera decodes on, but nothing is encoded unwatched
    assert len(results) == 4
    for parts in results.values():
        rate = (len(parts) - 1) / (parts[-1].received - parts[0].received)
        assert MJPEG_FPS * 0.7 <= rate <= MJPEG_FPS * 1.2, rate
        assert jpeg_size(parts[0].jpeg) == (MJPEG_WIDTH, 90)
    sent = {p.jpeg for parts in results.values() for p in parts}  # distinct frames sent
    encodes = stopped_at - before
    per_viewer = max(len(parts) for parts in results.values())
    # one encode per frame, not per frame and viewer: the frames the viewers got, plus the
    # few made before their first read and after their last
    assert len(sent) <= encodes <= per_viewer + 2 * MJPEG_FPS
    assert encodes < 2 * per_viewer


def test_a_client_that_reads_nothing_slows_no_one(
    any_server: tuple[ServerThread, Cameras],
) -> None:
    srv, manager = any_server
    stuck = MjpegClient(srv.port, "/api/cameras/front/mjpeg", rcvbuf=4096)
    fast = MjpegClient(srv.port, "/api/cameras/front/mjpeg")
    fast.part()
    parts = read_parts(fast, 3.0)  # the stuck one reads nothing meanwhile
    rate = (len(parts) - 1) / (parts[-1].received - parts[0].received)
    assert rate >= MJPEG_FPS * 0.7, rate
    stuck.part()  # and it still gets frames when it reads again
    stuck.close()
    fast.close()
    wait_for(lambda: manager.status("front").viewers == 0, 10, "both gone")


def test_a_slow_viewer_gets_the_newest_frame_and_skips_the_rest() -> None:
    """What a viewer is sent when it is ready again (its send finished): the newest frame,
    not each one made meanwhile; so nothing queues per viewer."""
    feed = LiveFeed("cam", LiveConfig())

    async def scenario() -> list[int]:
        stream = mjpeg_stream(feed)
        got = []
        feed._publish(LiveFrame(b"1", 1, time.monotonic(), 2, 2))
        got.append(await anext(stream))
        for seq in range(2, 11):  # nine frames while the viewer is busy sending
            feed._publish(LiveFrame(str(seq).encode(), seq, time.monotonic(), 2, 2))
        got.append(await anext(stream))
        assert feed.viewers == 1
        await stream.aclose()  # the client went
        assert feed.viewers == 0
        return [int(part.rsplit(b"\r\n\r\n", 1)[1][:-2]) for part in got]

    assert asyncio.run(scenario()) == [1, 10]


def test_the_next_viewer_never_gets_the_frame_the_last_one_saw() -> None:
    """Once the last viewer leaves no frames are made, so the last one kept would be stale
    (from before the camera idled, maybe hours ago): a new viewer waits for a fresh one."""
    feed = LiveFeed("cam", LiveConfig())

    async def scenario() -> tuple[bytes, bytes]:
        first = mjpeg_stream(feed)
        feed._publish(LiveFrame(b"old", 1, time.monotonic(), 2, 2))
        seen = await anext(first)
        await first.aclose()  # the last viewer left
        second = mjpeg_stream(feed)
        waiting = asyncio.ensure_future(anext(second))
        deadline = time.monotonic() + 5
        while not feed._waiters:  # the viewer came, and waits for the next frame
            assert time.monotonic() < deadline, "the viewer never waited for a frame"
            await asyncio.sleep(0.01)
        assert not waiting.done()  # nothing stale was sent
        feed._publish(LiveFrame(b"new", 2, time.monotonic(), 2, 2))
        fresh = await asyncio.wait_for(waiting, 5)
        await second.aclose()
        return seen, fresh

    seen, fresh = asyncio.run(scenario())
    assert seen.endswith(b"old\r\n") and fresh.endswith(b"new\r\n")


def test_a_gone_client_is_cleaned_up(server: tuple[ServerThread, CameraManager]) -> None:
    srv, manager = server
    client = MjpegClient(srv.port, "/api/cameras/split/mjpeg")
    client.part()
    cam = manager.get("split")
    assert cam.status().viewers == 1
    assert any(t.name == "vigil-live-split" for t in threading.enumerate())
    client.close()
    wait_for(lambda: cam.status().viewers == 0, 10, "the viewer counted out")
    wait_for(
        lambda: not any(t.name == "vigil-live-split" for t in threading.enumerate()),
        2,
        "the live decoder stopped",
    )


def test_snapshot_has_an_age_and_is_encoded_once_for_many_requests(
    server: tuple[ServerThread, CameraManager],
) -> None:
    srv, manager = server
    feed = manager.get("front").live
    with httpx.Client() as client:
        response = client.get(srv.url("/api/cameras/front/snapshot.jpg"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        assert int(response.headers["age"]) <= 2
        assert jpeg_size(response.content) == (MJPEG_WIDTH, 90)
        before = feed.encodes
        answers: list[Any] = []

        def get() -> None:
            answers.append(client.get(srv.url("/api/cameras/front/snapshot.jpg")))

        threads = [threading.Thread(target=get) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert [r.status_code for r in answers] == [200] * 10
        # the frames (ETag) sent that weren't before: each encoded once, for all requests
        etags = [r.headers["etag"] for r in answers]
        new = set(etags) - {response.headers["etag"]}
        assert feed.encodes - before == len(new)
        # and shared: ten requests got fewer frames than ten (detection decodes 5 a second;
        # how many frames the burst spans depends on the machine's load, so no fixed bound)
        assert len(set(etags)) < len(etags)
        again = client.get(
            srv.url("/api/cameras/front/snapshot.jpg"),
            headers={"If-None-Match": answers[-1].headers["etag"]},
        )
        assert again.status_code in (200, 304)  # 304 while that frame is still the latest
        if again.status_code == 304:
            assert again.content == b""


def test_unknown_camera_is_404(any_server: tuple[ServerThread, Cameras]) -> None:
    srv, _ = any_server
    with httpx.Client() as client:
        for path in ("snapshot.jpg", "mjpeg"):
            response = client.get(srv.url(f"/api/cameras/nope/{path}"))
            assert response.status_code == 404
            assert response.json()["code"] == "E601"


def test_viewers_streams_end_when_the_camera_is_removed(
    any_server: tuple[ServerThread, Cameras],
) -> None:
    srv, _ = any_server
    client = MjpegClient(srv.port, "/api/cameras/split/mjpeg")
    client.part()
    with httpx.Client() as http:
        assert http.delete(srv.url("/api/cameras/split")).status_code == 204

    def read_to_the_end() -> None:
        for _ in range(100):  # what was in flight, then the end of the stream
            client.part()

    with pytest.raises(ConnectionError):  # within 100 parts, whatever the machine's speed
        read_to_the_end()
    client.close()


def test_a_viewer_that_stops_reading_is_dropped_after_the_send_timeout(
    any_server: tuple[ServerThread, Cameras],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A viewer that keeps its socket open and reads nothing (gone without a FIN, a hung
    player): once a part can't be sent for the send timeout, the server closes the
    connection, and the viewer's slot and count are free again."""
    import socket

    from vigil.api.live import MjpegResponse
    from vigil.api.protocol import BoundedH11Protocol

    monkeypatch.setattr(MjpegResponse, "send_timeout", 0.5)  # 15 s in service
    made = BoundedH11Protocol.connection_made

    def small_buffers(self: BoundedH11Protocol, transport: Any) -> None:
        # the kernel's send buffer on loopback holds minutes of these small parts: make it
        # small, as it is once a vanished client's window and buffers have filled
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=4096)
        made(self, transport)

    monkeypatch.setattr(BoundedH11Protocol, "connection_made", small_buffers)
    srv, manager = any_server
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
    sock.connect(("127.0.0.1", srv.port))
    try:
        sock.sendall(b"GET /api/cameras/front/mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        wait_for(lambda: manager.status("front").viewers == 1, 10, "the viewer counted")
        wait_for(lambda: manager.status("front").viewers == 0, 20, "the viewer dropped")
        sock.setblocking(False)

        def closed() -> bool:
            try:
                while chunk := sock.recv(1 << 20):  # what the buffers held, then EOF
                    del chunk
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True
            return True

        wait_for(closed, 10, "the server closing the connection")
    finally:
        sock.close()
    client = MjpegClient(srv.port, "/api/cameras/front/mjpeg")  # others are still served
    try:
        assert client.status == 200 and client.part().jpeg
    finally:
        client.close()
    assert not [r for r in caplog.records if r.levelno >= 40]  # a drop, not a server error
