"""An H.265 main stream (RFC 7798), as newer cameras send."""

from __future__ import annotations

import av

from tests.helpers import SMALL, SimThread
from tests.sim.rtsp_client import RawRtsp
from vigil.sim.server import build_cameras


def test_h265_main_stream_decodes_with_pyav() -> None:
    cameras = build_cameras(2, SMALL, None, quiet=True, h265=["cam2"])
    with SimThread(cameras) as server:
        with RawRtsp(server.port) as client:
            sdp = client.request("DESCRIBE", server.url("cam2")).body.decode()
        assert "a=rtpmap:96 H265/90000" in sdp
        assert "sprop-vps=" in sdp and "sprop-sps=" in sdp and "sprop-pps=" in sdp
        frames, keys = 0, 0
        with av.open(server.url("cam2"), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == "hevc"
            for packet in c.demux(stream):
                keys += packet.is_keyframe
                for frame in packet.decode():
                    assert (frame.width, frame.height) == (320, 180)
                    frames += 1
                if frames >= 2 * SMALL.fps:
                    break
        assert keys >= 2
        with av.open(server.url("cam1"), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c:
            assert c.streams.video[0].codec_context.name == "h264"  # the others stay H.264
