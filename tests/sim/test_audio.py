"""Audio tracks (G.711 µ-law and AAC) and RTCP sender reports, as cameras send them."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator

import av
import pytest

from tests.helpers import SMALL, LibavWarnings, SimThread
from tests.sim.rtsp_client import RawRtsp
from vigil.sim.server import build_cameras


@pytest.fixture(scope="module")
def with_audio() -> Iterator[SimThread]:
    cameras = build_cameras(3, SMALL, None, quiet=True, audio={"cam1": "pcmu", "cam2": "aac"})
    with SimThread(cameras) as server:
        yield server


@pytest.mark.parametrize(
    ("camera", "codec", "rate"), [("cam1", "pcm_mulaw", 8000), ("cam2", "aac", 16000)]
)
def test_pyav_decodes_the_audio_track(
    with_audio: SimThread, camera: str, codec: str, rate: int
) -> None:
    samples = 0
    with (
        LibavWarnings() as warnings,
        av.open(with_audio.url(camera), options={"rtsp_transport": "tcp"}, timeout=(10, 10)) as c,
    ):
        assert c.streams.video and c.streams.audio
        audio = c.streams.audio[0]
        assert audio.codec_context.name == codec
        assert audio.codec_context.sample_rate == rate
        for packet in c.demux(audio):
            for frame in packet.decode():
                samples += frame.samples
            if samples >= 2 * rate:
                break
    assert samples >= 2 * rate
    assert warnings.messages == []


def test_camera_without_audio_has_one_track(with_audio: SimThread) -> None:
    with RawRtsp(with_audio.port) as client:
        sdp = client.request("DESCRIBE", with_audio.url("cam3")).body.decode()
    assert "m=audio" not in sdp
    with RawRtsp(with_audio.port) as client:
        sdp = client.request("DESCRIBE", with_audio.url("cam1")).body.decode()
    assert "m=audio 0 RTP/AVP 0" in sdp and "a=control:trackID=1" in sdp


def test_sender_reports_tie_rtp_time_to_wall_clock(with_audio: SimThread) -> None:
    with RawRtsp(with_audio.port) as client:
        client.play(with_audio.url("cam3"))
        channel, report = client.read_interleaved()
        while channel != 1:
            channel, report = client.read_interleaved()
    first, kind, length, _ssrc, ntp_seconds, _fraction = struct.unpack("!BBHIII", report[:16])
    assert (first >> 6, kind, length) == (2, 200, 6)
    assert abs(ntp_seconds - 2_208_988_800 - time.time()) < 5
