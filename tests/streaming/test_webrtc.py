"""WebRTC with a real aiortc client in the test process: it receives decodable frames of the
camera's size while the server encodes nothing; bad offers and limits change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import httpx2 as httpx
import pytest
from aiortc.codecs import h264

from tests.helpers import SMALL, ServerThread, SimThread, wait_for
from tests.streaming.webrtc_client import Viewer
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.media.hub import PacketHub
from vigil.media.packets import MediaPacket, StreamInfo
from vigil.sim.server import build_cameras
from vigil.streaming.webrtc.direct import DirectSink
from vigil.streaming.webrtc.interfaces import interface_addresses, media_addresses
from vigil.streaming.webrtc.relay import H264Relay, _has_sps
from vigil.streaming.webrtc.sessions import WebRtcSessions
from vigil.streaming.webrtc.track import TRACK_QUEUE, AccessUnit, LoopSink, PacketTrack


@pytest.fixture(scope="module")
def sim265() -> Iterator[SimThread]:
    with SimThread(build_cameras(2, SMALL, None, quiet=True, h265=["cam2"])) as sim:
        yield sim


@pytest.fixture
def server(sim265: SimThread, video_file: Path) -> Iterator[tuple[ServerThread, CameraManager]]:
    with serving(sim265, video_file, direct=True) as srv:
        yield srv


@contextmanager
def serving(
    sim265: SimThread, video_file: Path, direct: bool, addresses: list[str] | None = None
) -> Iterator[tuple[ServerThread, CameraManager]]:
    config = validate_data(
        {
            "cameras": {
                # an MP4 file: H.264 as avcC, which WebRTC needs as Annex B
                "clip": {"inputs": [{"url": f"file://{video_file}"}], "record": {"mode": "off"}},
                "front": {
                    "inputs": [{"url": sim265.url("cam1")}],
                    "record": {"mode": "off"},
                    "live": {"webrtc_max_sessions": 1},
                },
                "hevc": {"inputs": [{"url": sim265.url("cam2")}], "record": {"mode": "off"}},
            }
        }
    )
    manager = CameraManager(config.cameras)
    app = create_app(manager, webrtc_addresses=addresses)
    app.state.services.webrtc.direct = direct
    with ServerThread(app) as srv:
        wait_for(lambda: all(s.state == "streaming" for s in manager.statuses()), 20, "up")
        yield srv, manager


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of aiortc's H.264 encodes (must stay 0) and packet passthroughs."""
    calls = {"encode": 0, "pack": 0}
    encode, pack = h264.H264Encoder.encode, h264.H264Encoder.pack

    def counted_encode(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["encode"] += 1
        return encode(self, *args, **kwargs)

    def counted_pack(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["pack"] += 1
        return pack(self, *args, **kwargs)

    monkeypatch.setattr(h264.H264Encoder, "encode", counted_encode)
    monkeypatch.setattr(h264.H264Encoder, "pack", counted_pack)
    return calls


def relay_running(manager: CameraManager, camera: str) -> bool:
    """Whether the camera's live input hands packets to a WebRTC relay."""
    hub = manager.get(camera).live_input().hub
    return any(s.name == f"webrtc:{camera}" for s in hub.subscriptions)


@pytest.mark.parametrize(
    ("camera", "direct"), [("front", True), ("clip", True), ("front", False), ("clip", False)]
)
def test_a_viewer_gets_the_cameras_packets_decodable_without_any_encode(
    sim265: SimThread,
    video_file: Path,
    codec_calls: dict[str, int],
    camera: str,
    direct: bool,
) -> None:
    """Both ways of sending: straight from the reader thread (DirectSink, the default) and
    through aiortc's sender (LoopSink, its fallback)."""
    sinks: list[Any] = []

    async def scenario(srv: ServerThread, manager: CameraManager) -> None:
        viewer = Viewer()
        response = await viewer.connect(srv.url(f"/api/cameras/{camera}/webrtc"))
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        assert "H264" in response.text and "VP8" not in response.text  # H.264 only
        await viewer.wait_frames(15, 20)
        assert {(f.width, f.height) for f in viewer.frames} == {(320, 180)}
        assert manager.status(camera).viewers == 1
        assert relay_running(manager, camera)
        relay = srv_sessions(srv).relay(camera)
        assert relay is not None
        sinks.extend(relay.sinks)
        async with httpx.AsyncClient() as client:
            ended = await client.delete(srv.url(viewer.location))
            assert ended.status_code == 204
            again = await client.delete(srv.url(viewer.location))
            assert again.status_code == 404
        await viewer.pc.close()

    with serving(sim265, video_file, direct) as (srv, manager):
        asyncio.run(scenario(srv, manager))
        assert codec_calls["encode"] == 0  # nothing encoded: the packets passed through
        assert [type(sink) for sink in sinks] == [DirectSink if direct else LoopSink]
        if direct:
            assert codec_calls["pack"] == 0  # aiortc's sender sent nothing
            assert sinks[0].sent >= 15 and sinks[0].stream.packets == sinks[0].sent
        else:
            assert codec_calls["pack"] >= 15
        assert manager.status(camera).viewers == 0
        wait_for(
            lambda: not relay_running(manager, camera), 10, "the relay stopped with its last viewer"
        )


def candidate_hosts(sdp: str) -> set[str]:
    """The addresses of an SDP's ICE candidates (``a=candidate:f c udp prio HOST port ...``)."""
    return {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}


def test_media_binds_only_on_the_servers_address(
    sim265: SimThread, video_file: Path, codec_calls: dict[str, int]
) -> None:
    """A server on 127.0.0.1 offers (and opens UDP ports on) 127.0.0.1 alone, where aioice
    would take every other interface; the viewer still gets its frames, over loopback."""
    everywhere = media_addresses("0.0.0.0")
    assert everywhere is None  # a wildcard server: every interface, as aioice does

    async def scenario(srv: ServerThread) -> None:
        viewer = Viewer()
        response = await viewer.connect(srv.url("/api/cameras/front/webrtc"))
        assert response.status_code == 201, response.text
        assert candidate_hosts(response.text) == {"127.0.0.1"}
        sessions = list(srv_sessions(srv)._sessions.values())
        bound = {
            p.transport.get_extra_info("sockname")[0]
            for s in sessions
            for t in s.pc.getTransceivers()
            for p in t.sender.transport.transport.iceGatherer._connection._protocols
        }
        assert bound == {"127.0.0.1"}
        await viewer.wait_frames(5, 20)
        await viewer.pc.close()

    with serving(sim265, video_file, True, media_addresses("127.0.0.1")) as (srv, _):
        asyncio.run(scenario(srv))


def test_media_addresses_follow_the_host_or_the_named_interfaces() -> None:
    assert media_addresses("127.0.0.1") == ["127.0.0.1"]
    assert media_addresses("[::1]") == ["::1"]
    assert media_addresses("::") is None
    assert "127.0.0.1" in (media_addresses("localhost") or [])
    interfaces = interface_addresses()
    loopback = next(name for name, found in interfaces.items() if "127.0.0.1" in found)
    assert "127.0.0.1" in (media_addresses("0.0.0.0", [loopback]) or [])
    assert media_addresses("0.0.0.0", ["192.0.2.7", "192.0.2.7"]) == ["192.0.2.7"]
    assert media_addresses("0.0.0.0", ["no-such-interface.invalid"]) == []


def srv_sessions(srv: ServerThread) -> WebRtcSessions:
    sessions: WebRtcSessions = srv.app.state.services.webrtc
    return sessions


def test_a_peer_that_goes_ends_its_session(server: tuple[ServerThread, CameraManager]) -> None:
    srv, manager = server

    async def scenario() -> None:
        viewer = Viewer()
        assert (await viewer.connect(srv.url("/api/cameras/front/webrtc"))).status_code == 201
        await viewer.wait_frames(3, 20)
        await viewer.pc.close()  # no DELETE: the peer just goes

    asyncio.run(scenario())
    wait_for(lambda: manager.status("front").viewers == 0, 15, "the session ended")


def test_a_session_that_never_connects_is_reaped(
    server: tuple[ServerThread, CameraManager],
) -> None:
    """An offer answered but never followed by ICE must not hold the camera's one slot."""
    srv, manager = server
    sessions = srv_sessions(srv)
    sessions.connect_deadline = 0.5  # 30 s in service

    async def scenario() -> None:
        viewer = Viewer()
        sdp = await viewer.offer()
        async with httpx.AsyncClient(timeout=30) as client:
            answered = await client.post(
                srv.url("/api/cameras/front/webrtc"),
                content=sdp,
                headers={"content-type": "application/sdp"},
            )
        assert answered.status_code == 201  # the answer is never applied: no ICE, no DTLS
        await viewer.pc.close()

    try:
        asyncio.run(scenario())
        wait_for(lambda: manager.status("front").viewers == 0, 20, "the session reaped")
        assert sessions.count("front") == 0
    finally:
        sessions.connect_deadline = 30.0


def test_sessions_are_capped(server: tuple[ServerThread, CameraManager]) -> None:
    srv, manager = server

    async def scenario() -> None:
        first, second = Viewer(), Viewer()
        assert (await first.connect(srv.url("/api/cameras/front/webrtc"))).status_code == 201
        refused = await second.connect(srv.url("/api/cameras/front/webrtc"))
        assert refused.status_code == 503
        assert refused.json()["code"] == "E504"
        assert manager.status("front").viewers == 1
        async with httpx.AsyncClient() as client:
            await client.delete(srv.url(first.location))
        await first.pc.close()
        await second.pc.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "body", [b"garbage", b"v=0\r\nthis is not sdp\r\nm=video", b"\xff\xfe\x00", b""]
)
def test_garbage_sdp_is_400_and_changes_nothing(
    server: tuple[ServerThread, CameraManager], body: bytes
) -> None:
    srv, manager = server
    with httpx.Client() as client:
        response = client.post(
            srv.url("/api/cameras/front/webrtc"),
            content=body,
            headers={"content-type": "application/sdp"},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "E505"
    assert manager.status("front").viewers == 0
    assert not relay_running(manager, "front")


def test_h265_live_input_is_refused_with_e503(server: tuple[ServerThread, CameraManager]) -> None:
    srv, manager = server

    async def scenario() -> httpx.Response:
        viewer = Viewer()
        try:
            return await viewer.connect(srv.url("/api/cameras/hevc/webrtc"))
        finally:
            await viewer.pc.close()

    response = asyncio.run(scenario())
    assert response.status_code == 409
    assert response.json()["code"] == "E503"
    assert manager.status("hevc").viewers == 0
    with httpx.Client() as client:  # MJPEG still works for it
        snapshot = client.get(srv.url("/api/cameras/hevc/snapshot.jpg"), timeout=20)
    assert snapshot.status_code == 200


def test_unknown_camera_and_session_are_404(server: tuple[ServerThread, CameraManager]) -> None:
    srv, _ = server
    with httpx.Client() as client:
        response = client.post(
            srv.url("/api/cameras/nope/webrtc"),
            content=b"v=0",
            headers={"content-type": "application/sdp"},
        )
        assert response.status_code == 404 and response.json()["code"] == "E601"
        response = client.delete(srv.url("/api/cameras/front/webrtc/" + "0" * 32))
        assert response.status_code == 404 and response.json()["code"] == "E604"


def test_a_viewer_that_falls_behind_skips_to_the_next_key_frame() -> None:
    def packet(key: bool) -> tuple[Any, bool]:
        return av.Packet(b"\x00\x00\x01\x65" if key else b"\x00\x00\x01\x41"), key

    async def scenario() -> PacketTrack:
        track = PacketTrack()
        track.put([packet(True)] + [packet(False) for _ in range(TRACK_QUEUE - 1)])
        assert len(track.queue) == TRACK_QUEUE
        track.put([packet(False) for _ in range(5)])  # full: all dropped up to a key frame
        assert len(track.queue) == 0
        track.put([packet(False), packet(True), packet(False)])
        assert len(track.queue) == 2  # it starts again at the key frame
        assert bytes(await track.recv())[3] == 0x65  # the key frame first
        return track

    track = asyncio.run(scenario())
    assert track.dropped == TRACK_QUEUE + 5 + 1


def test_sps_detection() -> None:
    assert _has_sps(b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce\x00\x00\x01\x65")
    assert not _has_sps(b"\x00\x00\x00\x01\x65\x88\x84")
    assert not _has_sps(b"")


_ANNEX_B = StreamInfo(  # Annex B, as RTSP gives it: no extradata
    1, "h264", 320, 180, 15.0, SimpleNamespace(codec_context=SimpleNamespace(extradata=b""))
)


def item(pts: int, key: bool) -> MediaPacket:
    """A live input's H.264 packet: an IDR or a P slice, at `pts` of 15 fps."""
    packet = av.Packet(b"\x00\x00\x01\x65" if key else b"\x00\x00\x01\x41")
    packet.pts, packet.time_base = pts, Fraction(1, 15)
    return MediaPacket(packet, _ANNEX_B, True, key, 0.0)


class RecordingSink:
    """A viewer that keeps what the relay sends it: the pts of each batch's access units."""

    direct = False
    track = PacketTrack()

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def send(self, units: list[AccessUnit]) -> None:
        self.batches.append([unit.packet.pts or 0 for unit in units])

    def close(self) -> None:
        pass


def test_a_joining_viewer_starts_with_the_gop_cached_since_the_last_key_frame() -> None:
    """A viewer can't ask the camera for a key frame, so it gets the frames since the last
    one at once: a picture now, not at the camera's next key frame."""
    hub = PacketHub("cam/live")
    token = hub.claim()
    loop = asyncio.new_event_loop()
    try:
        relay = H264Relay("cam", hub, loop)
        for pts in range(6):  # a GOP: a key frame and P-frames, then the next key frame
            hub.publish(token, item(pts, key=pts in (0, 3)))
        sink = RecordingSink()
        relay.add(sink)
        hub.publish(token, item(6, key=False))
        hub.publish(token, item(7, key=False))
    finally:
        loop.close()
    assert sink.batches == [[3, 4, 5, 6], [7]]  # the GOP so far at once, then each frame


class BrokenSink(RecordingSink):
    """A viewer whose sending raises (a socket error nobody expected, a bug)."""

    closed = False

    def send(self, units: list[AccessUnit]) -> None:
        raise OSError(9, "Bad file descriptor")

    def close(self) -> None:
        self.closed = True


def test_a_viewer_whose_send_fails_is_dropped_and_nothing_else_notices(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sending runs on the reader thread: a failing viewer must not stop ingest (the hub's
    publish, which recording shares) nor the other viewers."""
    hub = PacketHub("cam/live")
    token = hub.claim()
    recorder = hub.subscribe("recorder", 100)  # another consumer of the same input
    loop = asyncio.new_event_loop()
    try:
        relay = H264Relay("cam", hub, loop)
        good, broken = RecordingSink(), BrokenSink()
        relay.add(good)
        relay.add(broken)
        for pts in range(4):
            assert hub.publish(token, item(pts, key=pts == 0))  # the reader goes on
        loop.run_until_complete(asyncio.sleep(0))  # the close, scheduled on the loop
    finally:
        loop.close()
    assert relay.sinks == (good,) and broken.closed
    assert good.batches == [[0], [1], [2], [3]]
    assert len(recorder.drain(0)) == 4
    assert "[E501]" in caplog.text


def test_a_tap_that_raises_is_closed_and_the_hub_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    hub = PacketHub("cam/main")
    token = hub.claim()
    ended: list[bool] = []

    def deliver(item: MediaPacket) -> None:
        raise RuntimeError("a bug in a consumer")

    tap = hub.tap("broken", deliver, lambda: ended.append(True))
    other = hub.subscribe("recorder", 10)
    packet = MediaPacket(av.Packet(b"x"), StreamInfo(1, "h264", 2, 2, 1.0, None), True, True, 0.0)
    assert hub.publish(token, packet) and hub.publish(token, packet)
    assert tap.failures == 1 and ended == [True]
    assert len(other.drain(0)) == 2
    assert "[E501]" in caplog.text
