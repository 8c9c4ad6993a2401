"""H.264 over RTP (RFC 6184) for one WebRTC viewer, built with as little Python a packet as
possible: the header is a per-viewer template with the sequence number, timestamp and marker
patched in, and a NAL unit goes out whole or as FU-A fragments.

    access unit (Annex B) ──> NAL units ──> payloads ──> RTP packets (unencrypted)

What it leaves to the caller: SRTP (the DTLS session's keys) and the socket.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

CLOCK_RATE = 90_000  # H.264's RTP clock
MAX_PAYLOAD = 1200  # bytes of payload a packet: under any path's MTU with SRTP and UDP/IP
FU_A = 28  # NAL unit type of a fragmentation unit
NAL_TYPE = 0x1F
NAL_NRI_F = 0xE0  # forbidden bit and NRI: kept from the NAL header in the FU indicator

_HEAD = struct.Struct("!BBHI")  # V/P/X/CC, M/PT, sequence number, timestamp


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit (start codes of 3 or 4 bytes removed, and
    the zero bytes that may trail a unit: a NAL unit never ends in one)."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start >= 0:
        start += 3
        end = data.find(b"\x00\x00\x01", start)
        stop = len(data) if end < 0 else end
        while stop > start and data[stop - 1] == 0:
            stop -= 1
        if stop > start:
            units.append(data[start:stop])
        start = end
    return units


def payloads(units: list[bytes], limit: int = MAX_PAYLOAD) -> Iterator[bytes]:
    """RTP payloads carrying `units`: a small NAL unit as it is (single NAL unit mode), a
    large one in FU-A fragments of at most `limit` bytes (packetization-mode=1)."""
    for unit in units:
        if len(unit) <= limit:
            yield unit
            continue
        indicator = (unit[0] & NAL_NRI_F) | FU_A
        kind = unit[0] & NAL_TYPE
        body = memoryview(unit)[1:]
        step = limit - 2
        last = len(body) - step
        for offset in range(0, len(body), step):
            header = kind | (0x80 if offset == 0 else 0) | (0x40 if offset >= last else 0)
            yield bytes((indicator, header)) + body[offset : offset + step]


def frame_payloads(access_unit: bytes) -> list[bytes]:
    """The RTP payloads of an Annex B access unit; the same for every viewer."""
    return list(payloads(nal_units(access_unit)))


def extension(mid_id: int | None, mid: str | None) -> bytes:
    """The header extension block (RFC 8285, one-byte form) with the BUNDLE `mid`, or
    nothing if it wasn't negotiated."""
    if mid_id is None or not mid or not 0 < mid_id < 15 or len(mid) > 16:
        return b""
    element = bytes(((mid_id << 4) | (len(mid) - 1),)) + mid.encode()
    element += b"\x00" * (-len(element) % 4)
    return struct.pack("!HH", 0xBEDE, len(element) // 4) + element


@dataclass
class RtpStream:
    """One viewer's RTP stream: its SSRC, payload type and counters."""

    ssrc: int
    payload_type: int
    sequence: int  # the next packet's sequence number (random start)
    timestamp_origin: int  # added to every timestamp (random)
    ext: bytes = b""  # the header extension block, the same on every packet
    packets: int = 0  # packets made
    octets: int = 0  # payload bytes made
    last_timestamp: int = 0  # the last packet's RTP timestamp

    def __post_init__(self) -> None:
        self._first = 0x90 if self.ext else 0x80  # version 2, extension bit
        self._tail = struct.pack("!I", self.ssrc) + self.ext

    def timestamp(self, pts: int, num: int, den: int) -> int:
        """The RTP timestamp of a `pts` in a time base of num/den seconds."""
        return (self.timestamp_origin + pts * num * CLOCK_RATE // den) & 0xFFFFFFFF

    def packetize(self, parts: list[bytes], timestamp: int) -> list[tuple[int, bytes]]:
        """The RTP packets of one access unit's payloads (:func:`frame_payloads`) at
        `timestamp`, with their sequence numbers; the marker bit is on the last."""
        out: list[tuple[int, bytes]] = []
        last = len(parts) - 1
        pt, head, tail = self.payload_type, _HEAD.pack, self._tail
        for i, payload in enumerate(parts):
            seq = self.sequence
            second = pt | 0x80 if i == last else pt
            out.append((seq, head(self._first, second, seq, timestamp) + tail + payload))
            self.sequence = (seq + 1) & 0xFFFF
            self.octets += len(payload)
        self.packets += len(parts)
        self.last_timestamp = timestamp
        return out
