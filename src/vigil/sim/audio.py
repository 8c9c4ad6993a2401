"""Synthetic camera audio: a beeping tone as G.711 µ-law (PCMU) or AAC, ready for RTP.

Cameras send G.711 (PCMU, RFC 3551: payload type 0, 8 kHz, 20 ms packets) or AAC
(RFC 3640 ``mpeg4-generic``, AAC-hbr mode). Audio costs next to nothing to encode, so it
is made at start, not cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from vigil.sim.media import AccessUnit
from vigil.sim.rtp import MAX_PAYLOAD, PreparedUnit

AudioCodec = Literal["pcmu", "aac"]
PCMU_RATE = 8000  # Hz
PCMU_PACKET = 160  # samples: 20 ms
AAC_RATE = 16000  # Hz
AAC_FRAME = 1024  # samples per AAC frame
AAC_PAYLOAD_TYPE = 97


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Encoded audio packets and how to describe them in SDP."""

    codec: AudioCodec
    units: tuple[AccessUnit, ...]
    prepared: tuple[PreparedUnit, ...]
    clock_rate: int  # Hz: the RTP clock, which is the sample rate
    ticks_per_unit: int  # samples per packet
    payload_type: int
    config: bytes = b""  # AAC AudioSpecificConfig

    @property
    def rate(self) -> float:
        """Packets per second."""
        return self.clock_rate / self.ticks_per_unit

    def sdp(self, track: int) -> list[str]:
        pt = self.payload_type
        if self.codec == "pcmu":
            lines = [f"m=audio 0 RTP/AVP {pt}", f"a=rtpmap:{pt} PCMU/{self.clock_rate}"]
        else:
            lines = [
                f"m=audio 0 RTP/AVP {pt}",
                f"a=rtpmap:{pt} MPEG4-GENERIC/{self.clock_rate}/1",
                f"a=fmtp:{pt} streamtype=5;profile-level-id=15;mode=AAC-hbr;"
                f"config={self.config.hex()};sizelength=13;indexlength=3;indexdeltalength=3",
            ]
        return [*lines, f"a=control:trackID={track}"]


def _tone(seconds: float, rate: int) -> np.ndarray:
    """A 880 Hz beep for 0.2 s of every second, quiet noise otherwise."""
    t = np.arange(int(seconds * rate)) / rate
    beep = (t % 1.0) < 0.2
    rng = np.random.default_rng(3)
    signal = np.where(beep, 0.3 * np.sin(2 * np.pi * 880 * t), 0.0)
    return (signal + rng.normal(0, 0.002, t.size)).astype(np.float32)


def _encode(
    codec_name: str, rate: int, samples: np.ndarray, frame: int
) -> tuple[list[bytes], bytes]:
    ctx = av.CodecContext.create(codec_name, "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.format = "s16" if codec_name == "pcm_mulaw" else "fltp"
    ctx.time_base = Fraction(1, rate)
    if codec_name == "aac":
        ctx.bit_rate = 32_000
    ctx.open()
    pcm = (samples * 32767).astype(np.int16) if ctx.format.name == "s16" else samples
    out: list[bytes] = []
    for start in range(0, pcm.size - frame + 1, frame):
        chunk = av.AudioFrame.from_ndarray(
            pcm[start : start + frame].reshape(1, -1), format=ctx.format.name, layout="mono"
        )
        chunk.sample_rate, chunk.pts = rate, start
        out.extend(bytes(p) for p in ctx.encode(chunk))
    out.extend(bytes(p) for p in ctx.encode(None))
    return out, bytes(ctx.extradata or b"")


def make_audio(codec: AudioCodec, seconds: float, max_payload: int = MAX_PAYLOAD) -> AudioClip:
    """An audio clip as long as the video clip, so both loop together."""
    if codec == "pcmu":
        packets, _ = _encode("pcm_mulaw", PCMU_RATE, _tone(seconds, PCMU_RATE), PCMU_PACKET)
        payloads = [
            b"".join(packets)[i : i + PCMU_PACKET]
            for i in range(0, len(packets) * len(packets[0]), PCMU_PACKET)
        ]
        payloads = [p for p in payloads if len(p) == PCMU_PACKET]
        return _clip("pcmu", payloads, PCMU_RATE, PCMU_PACKET, 0, b"", max_payload)
    frames, config = _encode("aac", AAC_RATE, _tone(seconds, AAC_RATE), AAC_FRAME)
    # RFC 3640 AAC-hbr: a 16-bit AU-headers-length (16 bits), then a 13-bit size + 3-bit index
    payloads = [(16).to_bytes(2, "big") + (len(f) << 3).to_bytes(2, "big") + f for f in frames]
    return _clip("aac", payloads, AAC_RATE, AAC_FRAME, AAC_PAYLOAD_TYPE, config, max_payload)


def _clip(
    codec: AudioCodec,
    payloads: list[bytes],
    rate: int,
    per_unit: int,
    pt: int,
    config: bytes,
    max_payload: int,
) -> AudioClip:
    units = tuple(AccessUnit((p,), key=True) for p in payloads)
    prepared = tuple(PreparedUnit(u.nals, max_payload, payload_type=pt) for u in units)
    return AudioClip(codec, units, prepared, rate, per_unit, pt, config)
