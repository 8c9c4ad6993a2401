"""The simulator's RTSP server over raw sockets: methods, SDP, framing, errors, auth."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time

import pytest

from tests.helpers import CAM_SECRET, CAM_USER, SMALL, SimThread
from tests.sim.rtsp_client import RawRtsp, access_units
from vigil.sim.auth import REALM


def test_options_lists_the_methods(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        response = client.request("OPTIONS", sim.url("cam1"))
    assert response.status == 200
    for method in ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER"):
        assert method in response.headers["public"]
    assert response.headers["cseq"] == "1"


def test_describe_gives_an_sdp_with_parameter_sets(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        response = client.request("DESCRIBE", sim.url("cam1"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/sdp"
    assert response.headers["content-base"] == sim.url("cam1") + "/"
    sdp = response.body.decode()
    assert "m=video 0 RTP/AVP 96" in sdp
    assert "a=rtpmap:96 H264/90000" in sdp
    fmtp = re.search(r"a=fmtp:96 (.*)", sdp)
    assert fmtp is not None
    params = dict(p.split("=", 1) for p in fmtp.group(1).strip().split(";"))
    assert params["packetization-mode"] == "1"
    sps, pps = (base64.b64decode(p) for p in params["sprop-parameter-sets"].split(","))
    assert sps[0] & 0x1F == 7 and pps[0] & 0x1F == 8
    assert params["profile-level-id"].lower() == sps[1:4].hex()
    assert "a=control:trackID=0" in sdp


def test_setup_play_streams_interleaved_rtp_in_real_time(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        described = client.request("DESCRIBE", sim.url("cam2"))
        setup = client.request(
            "SETUP",
            described.headers["content-base"] + "trackID=0",
            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"},
        )
        assert setup.status == 200
        assert "interleaved=0-1" in setup.headers["transport"]
        session = setup.headers["session"].split(";")[0]
        play = client.request("PLAY", sim.url("cam2"), {"Session": session})
        assert play.status == 200
        assert "rtptime=" in play.headers["rtp-info"]
        t0 = time.monotonic()
        units = access_units(client, 2 * SMALL.fps)
        elapsed = time.monotonic() - t0
        keep = client.request("GET_PARAMETER", sim.url("cam2"), {"Session": session})
        assert keep.status == 200
        bye = client.request("TEARDOWN", sim.url("cam2"), {"Session": session})
        assert bye.status == 200
    assert elapsed > 1.6  # 30 frames at 15 fps arrive in real time, not in a burst
    first_types = [nal[0] & 0x1F for nal in units[0][1]]
    assert first_types[:2] == [7, 8] and 5 in first_types  # starts with SPS, PPS and an IDR
    stamps = [ts for ts, _ in units]
    steps = {(b - a) % 2**32 for a, b in itertools.pairwise(stamps)}
    assert steps == {90_000 // SMALL.fps}


def test_sequence_numbers_are_continuous(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        client.play(sim.url("cam1"))
        seqs = [client.read_frame().seq for _ in range(200)]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))


def test_unknown_path_is_404_and_bad_request_is_400(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        assert client.request("DESCRIBE", sim.url("cam99")).status == 404
        assert client.request("DESCRIBE", f"rtsp://127.0.0.1:{sim.port}/nothing").status == 404
        assert client.request("DESCRIBE", sim.url("cam1", "third")).status == 404
    with RawRtsp(sim.port) as client:
        client.send_raw(b"HELLO\r\n\r\n")
        assert client.read_response().status == 400
    with RawRtsp(sim.port) as client:
        client.send_raw(b"DESCRIBE rtsp://x/cam1/main RTSP/1.0\r\nCSeq: 1\r\nno colon\r\n\r\n")
        assert client.read_response().status == 400


def test_play_before_setup_and_udp_transport_are_refused(sim: SimThread) -> None:
    with RawRtsp(sim.port) as client:
        assert client.request("PLAY", sim.url("cam1")).status == 455
        udp = client.request(
            "SETUP",
            sim.url("cam1") + "/trackID=0",
            {"Transport": "RTP/AVP;unicast;client_port=5000-5001"},
        )
        assert udp.status == 461


def _digest(method: str, uri: str, nonce: str, user: str, password: str) -> str:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1, ha2 = md5(f"{user}:{REALM}:{password}"), md5(f"{method}:{uri}")
    response = md5(f"{ha1}:{nonce}:{ha2}")
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}"'
    )


def test_auth_401_then_digest_and_basic(sim: SimThread) -> None:
    url = sim.url("cam3")
    with RawRtsp(sim.port) as client:
        challenge = client.request("DESCRIBE", url)
        assert challenge.status == 401
        digest = challenge.headers["www-authenticate-digest"]
        assert "www-authenticate-basic" in challenge.headers
        nonce = re.search(r'nonce="([^"]+)"', digest).group(1)  # type: ignore[union-attr]
        wrong = client.request(
            "DESCRIBE", url, {"Authorization": _digest("DESCRIBE", url, nonce, CAM_USER, "nope")}
        )
        assert wrong.status == 401
        good = client.request(
            "DESCRIBE",
            url,
            {"Authorization": _digest("DESCRIBE", url, nonce, CAM_USER, CAM_SECRET)},
        )
        assert good.status == 200
        basic = base64.b64encode(f"{CAM_USER}:{CAM_SECRET}".encode()).decode()
        assert client.request("DESCRIBE", url, {"Authorization": f"Basic {basic}"}).status == 200
    with RawRtsp(sim.port) as client:  # other cameras need nothing
        assert client.request("DESCRIBE", sim.url("cam1")).status == 200


def test_a_client_that_vanishes_disturbs_nobody(sim: SimThread) -> None:
    with RawRtsp(sim.port) as steady:
        steady.play(sim.url("cam4"))
        for _ in range(5):
            rude = RawRtsp(sim.port)
            rude.play(sim.url("cam4"))
            rude.read_frame()
            rude.sock.close()  # gone mid-stream, no TEARDOWN
        units = access_units(steady, SMALL.fps)
    assert len(units) == SMALL.fps
    stamps = [ts for ts, _ in units]  # every frame, none skipped for the rude clients' sake
    assert {b - a for a, b in itertools.pairwise(stamps)} == {90_000 // SMALL.fps}


@pytest.mark.parametrize("fault", ["unauthorized"])
def test_unauthorized_fault_answers_401_even_to_right_credentials(fault: str) -> None:
    from vigil.sim.server import build_cameras

    with SimThread(build_cameras(1, SMALL, None, quiet=True)) as server:
        server.set_faults("cam1", **{fault: True})
        with RawRtsp(server.port) as client:
            assert client.request("DESCRIBE", server.url("cam1")).status == 401
        server.set_faults("cam1", **{fault: False})
        with RawRtsp(server.port) as client:
            assert client.request("DESCRIBE", server.url("cam1")).status == 200
