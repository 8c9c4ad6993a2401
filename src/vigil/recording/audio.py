"""G.711 to AAC for recording: MP4 can't hold G.711, and cameras often send it.

G.711 (µ-law or A-law) is one byte a sample, and decoding it is a table lookup. Cameras send
it in 20 ms RTP packets, 50 a second, so the work per packet must be small: a packet's bytes
are only appended to a buffer, and each time 1024 samples (one AAC frame, 128 ms at 8 kHz)
are there, they go through the table at once (numpy) and FFmpeg's native AAC encoder with
its fast coder. No decoder or resampler runs per packet. One transcoder per segment: the
encoder is flushed when the segment closes, so each file's audio is whole.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import av
import numpy as np
import numpy.typing as npt

G711 = frozenset({"pcm_mulaw", "pcm_alaw"})
AAC_FRAME = 1024  # samples per AAC frame
AAC_BITRATE = 32_000  # bit/s per channel: plenty for 8-16 kHz speech


@cache
def decode_table(codec: str) -> npt.NDArray[np.float32]:
    """The 256 sample values of a G.711 codec as floats in [-1, 1), from FFmpeg's decoder."""
    decoder: Any = av.CodecContext.create(codec, "r")
    decoder.sample_rate = 8000
    decoder.layout = "mono"
    [frame] = decoder.decode(av.Packet(bytes(range(256))))
    samples: npt.NDArray[np.int16] = frame.to_ndarray().reshape(-1)  # s16
    return (samples.astype(np.float32) / np.float32(32768.0)).astype(np.float32)


class AacTranscoder:
    """Turns one segment's G.711 packets into AAC packets of `out`'s new audio stream."""

    def __init__(self, out: Any, template: Any):
        source = template.codec_context
        self.rate: int = source.sample_rate or 8000
        self.channels = 2 if source.layout.nb_channels == 2 else 1  # G.711 is mono
        layout = "stereo" if self.channels == 2 else "mono"
        self._table = decode_table(source.name)
        self._source_base: Fraction = template.time_base or Fraction(1, self.rate)
        self.stream = out.add_stream("aac", rate=self.rate, layout=layout)
        encoder = self.stream.codec_context
        encoder.format = "fltp"
        encoder.time_base = Fraction(1, self.rate)
        encoder.bit_rate = AAC_BITRATE * self.channels
        encoder.options = {"aac_coder": "fast"}
        self.stream.time_base = Fraction(1, self.rate)
        self._layout = layout
        self._pending = bytearray()  # G.711 bytes not yet encoded
        self._next: int | None = None  # pts (in samples) of the next frame to encode

    def encode(self, packet: Any, offset: int) -> list[Any]:
        """AAC packets (often none) for one G.711 packet that starts `offset` (in the source
        stream's time base) into the segment. Samples are counted on from the first packet,
        as the camera sends them."""
        if self._next is None:
            self._next = round(offset * self._source_base * self.rate)
        self._pending += memoryview(packet)
        whole = AAC_FRAME * self.channels
        if len(self._pending) < whole:
            return []
        take = len(self._pending) - len(self._pending) % whole
        out = self._encode(self._pending[:take])
        del self._pending[:take]
        return out

    def flush(self) -> list[Any]:
        """The last, shorter frame and what the encoder still holds."""
        out = self._encode(self._pending) if self._pending else []
        self._pending.clear()
        out.extend(self.stream.encode(None))
        return out

    def _encode(self, data: bytes | bytearray) -> list[Any]:
        assert self._next is not None
        samples = self._table[np.frombuffer(data, dtype=np.uint8)]
        # interleaved (L R L R ...) to planar, one row per channel
        planes = samples.reshape(-1, self.channels).T
        out: list[Any] = []
        for begin in range(0, planes.shape[1], AAC_FRAME):
            chunk = np.ascontiguousarray(planes[:, begin : begin + AAC_FRAME])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._layout)
            frame.sample_rate = self.rate
            frame.pts = self._next
            frame.time_base = Fraction(1, self.rate)
            self._next += chunk.shape[1]
            out.extend(self.stream.encode(frame))
        return out
