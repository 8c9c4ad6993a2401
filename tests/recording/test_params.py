"""Parameter sets read from the head of a key frame, as the recorder uses them to cut."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from vigil.recording.params import frame_size, parameter_sets


def keyframe(codec: str, width: int, height: int) -> bytes:
    encoder = av.CodecContext.create(codec, "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 15)
    encoder.options = {"preset": "ultrafast"}
    if codec == "libx265":
        encoder.options["x265-params"] = "log-level=error"
    image = np.zeros((height, width, 3), np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    return bytes(packets[0])


def test_h264_key_frame_gives_its_sps_and_pps_and_size() -> None:
    data = keyframe("libx264", 320, 180)
    params = parameter_sets(data, "h264")
    assert params is not None
    nal_types = [chunk[0] & 0x1F for chunk in params.split(b"\x00\x00\x00\x01") if chunk]
    assert nal_types == [7, 8]
    assert frame_size("h264", params, data) == (320, 180)
    other = parameter_sets(keyframe("libx264", 160, 90), "h264")
    assert other is not None and other != params


def test_hevc_key_frame_gives_vps_sps_pps() -> None:
    data = keyframe("libx265", 320, 180)
    params = parameter_sets(data, "hevc")
    assert params is not None
    nal_types = [(chunk[0] >> 1) & 0x3F for chunk in params.split(b"\x00\x00\x00\x01") if chunk]
    assert nal_types == [32, 33, 34]


def test_length_prefixed_and_other_codecs_give_nothing() -> None:
    data = keyframe("libx264", 320, 180)
    assert parameter_sets(len(data).to_bytes(4, "big") + data[4:], "h264") is None
    assert parameter_sets(data, "mjpeg") is None
