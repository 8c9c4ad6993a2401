"""G.711 to AAC: the table decode plus per-frame encode keeps every sample and the sound."""

from __future__ import annotations

import io
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest

from vigil.recording.audio import AAC_FRAME, AacTranscoder


def g711_packets(codec: str, seconds: float) -> tuple[list[av.Packet[Any]], np.ndarray]:
    """A 440 Hz tone in 20 ms packets, as a camera sends it, and the tone itself."""
    encoder = av.CodecContext.create(codec, "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = 8000, "mono", "s16"
    encoder.time_base = Fraction(1, 8000)
    encoder.open()
    total = int(seconds * 8000)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(total) / 8000)).astype(np.float32)
    packets: list[av.Packet[Any]] = []
    for begin in range(0, total, 160):
        pcm = (tone[begin : begin + 160] * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, begin
        packets.extend(encoder.encode(frame))
    return packets, tone


@pytest.mark.parametrize("codec", ["pcm_mulaw", "pcm_alaw"])
def test_every_sample_is_encoded_and_the_tone_survives(codec: str) -> None:
    packets, tone = g711_packets(codec, 2.0)
    out = av.open(io.BytesIO(), "w", format="mp4")
    template = av.open(io.BytesIO(), "w", format="wav").add_stream(codec, rate=8000, layout="mono")
    template.time_base = Fraction(1, 8000)
    transcoder = AacTranscoder(out, template)
    aac = []
    for n, packet in enumerate(packets):
        aac.extend(transcoder.encode(packet, n * 160))
    aac.extend(transcoder.flush())
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = transcoder.stream.codec_context.extradata
    decoded = [f.to_ndarray()[0] for p in aac for f in decoder.decode(p)]
    decoded += [f.to_ndarray()[0] for f in decoder.decode(None)]
    samples = np.concatenate(decoded)
    # AAC adds its priming delay (1024 samples here) and pads the last frame
    assert len(tone) <= len(samples) <= len(tone) + 3 * AAC_FRAME
    body = samples[AAC_FRAME * 2 : AAC_FRAME * 12]
    rms = float(np.sqrt(np.mean(body**2)))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.05  # a 0.5 sine's RMS, through G.711 and AAC
