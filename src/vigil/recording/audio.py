"""G.711 to AAC for recording: MP4 can't hold G.711, and cameras often send it.

G.711 (µ-law or A-law, 8 kHz mono) decodes to PCM by table lookup and FFmpeg's native AAC
encoder handles 8 kHz mono at a fraction of a percent of a core, so transcoding it is cheap
(docs/recording.md has the figure). One transcoder per segment: the encoder is flushed
when the segment closes, so each file's audio is whole.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

G711 = frozenset({"pcm_mulaw", "pcm_alaw"})
AAC_FRAME = 1024  # samples per AAC frame
AAC_BITRATE = 32_000  # bit/s per channel: plenty for 8-16 kHz speech


class AacTranscoder:
    """Decodes one segment's G.711 packets and encodes them as AAC into `out`."""

    def __init__(self, out: Any, template: Any):
        source = template.codec_context
        self.rate: int = source.sample_rate or 8000
        layout = "stereo" if source.layout.nb_channels == 2 else "mono"  # G.711 is mono
        self._decoder: Any = av.CodecContext.create(source.name, "r")
        self._decoder.sample_rate = self.rate
        self._decoder.layout = layout
        self.stream = out.add_stream("aac", rate=self.rate, layout=layout)
        encoder = self.stream.codec_context
        encoder.format = "fltp"
        encoder.time_base = Fraction(1, self.rate)
        encoder.bit_rate = AAC_BITRATE * (source.layout.nb_channels or 1)
        encoder.options = {"aac_coder": "fast"}  # 0.66 % of a core down to 0.13 % (60 s, 8 kHz)
        self.stream.time_base = Fraction(1, self.rate)
        self._resampler = av.AudioResampler("fltp", layout, self.rate, frame_size=AAC_FRAME)
        self._next: int | None = None  # pts (in samples) of the next frame to encode

    def encode(self, packet: Any, seconds: Fraction) -> list[Any]:
        """AAC packets for one G.711 packet that starts `seconds` into the segment."""
        at = round(seconds * self.rate)
        out = []
        for frame in self._decoder.decode(packet):
            if self._next is None:
                self._next = at
            for chunk in self._resampler.resample(frame):
                out.extend(self._encode(chunk))
        return out

    def flush(self) -> list[Any]:
        out = []
        for chunk in self._resampler.resample(None):
            out.extend(self._encode(chunk))
        out.extend(self.stream.encode(None))
        return out

    def _encode(self, chunk: Any) -> list[Any]:
        assert self._next is not None
        chunk.pts = self._next
        chunk.time_base = Fraction(1, self.rate)
        self._next += chunk.samples
        return list(self.stream.encode(chunk))
