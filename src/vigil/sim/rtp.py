"""RTP packetization of H.264 (RFC 6184) and H.265 (RFC 7798): single NAL units and
fragmentation units; RTCP sender reports; RTSP interleaving."""

from __future__ import annotations

import struct
from collections.abc import Iterable

MAX_PAYLOAD = 1400  # bytes of RTP payload, to fit a typical MTU
PAYLOAD_TYPE = 96
CLOCK_RATE = 90_000  # Hz, the H.264 RTP clock


class RtpPacketizer:
    """Turns access units into RTP packets with a running sequence number."""

    def __init__(
        self,
        ssrc: int,
        seq: int = 0,
        payload_type: int = PAYLOAD_TYPE,
        max_payload: int = MAX_PAYLOAD,
        codec: str = "h264",
    ):
        self.ssrc = ssrc
        self.max_payload = max_payload
        self.codec = codec
        self.seq = seq & 0xFFFF
        self.payload_type = payload_type

    def _header(self, timestamp: int, marker: bool) -> bytes:
        header = struct.pack(
            "!BBHII",
            0x80,
            (0x80 if marker else 0) | self.payload_type,
            self.seq,
            timestamp & 0xFFFFFFFF,
            self.ssrc,
        )
        self.seq = (self.seq + 1) & 0xFFFF
        return header

    def packetize(self, nals: Iterable[bytes], timestamp: int) -> list[bytes]:
        """RTP packets of one access unit; the marker bit is set on its last packet."""
        units = list(nals)
        packets: list[bytes] = []
        for n, nal in enumerate(units):
            last_nal = n == len(units) - 1
            size = self.max_payload
            if len(nal) <= size:
                packets.append(self._header(timestamp, last_nal) + nal)
                continue
            if self.codec == "h265":  # RFC 7798 FU: 2-byte payload header of type 49
                prefix = bytes(((nal[0] & 0x81) | (49 << 1), nal[1]))
                kind, body = (nal[0] >> 1) & 0x3F, nal[2:]
            else:  # RFC 6184 FU-A
                prefix = bytes(((nal[0] & 0xE0) | 28,))
                kind, body = nal[0] & 0x1F, nal[1:]
            step = size - len(prefix) - 1
            for offset in range(0, len(body), step):
                first, end = offset == 0, offset + step >= len(body)
                fu_header = (0x80 if first else 0) | (0x40 if end else 0) | kind
                header = self._header(timestamp, last_nal and end)
                packets.append(header + prefix + bytes((fu_header,)) + body[offset : offset + step])
        return packets


def interleave(channel: int, packets: Iterable[bytes]) -> bytes:
    """Frame RTP packets for RTSP over TCP: ``$``, channel, 16-bit length, packet."""
    return b"".join(struct.pack("!cBH", b"$", channel, len(p)) + p for p in packets)


_HEADER = struct.Struct("!HII")  # sequence number, timestamp, SSRC
_INTERLEAVE_HEADER = 4  # bytes: "$", channel, 16-bit length


class PreparedUnit:
    """An access unit packetized once, as interleaved RTP with blank header fields.

    Sending it to a client copies the bytes and writes the client's sequence numbers,
    timestamp, SSRC and channel in place: no per-client packetizing.
    """

    __slots__ = ("count", "offsets", "template")

    def __init__(
        self,
        nals: Iterable[bytes],
        max_payload: int = MAX_PAYLOAD,
        payload_type: int = PAYLOAD_TYPE,
        codec: str = "h264",
    ):
        packetizer = RtpPacketizer(0, 0, payload_type, max_payload, codec)
        packets = packetizer.packetize(nals, 0)
        self.template = interleave(0, packets)
        offsets, at = [], 0
        for packet in packets:
            offsets.append(at)
            at += _INTERLEAVE_HEADER + len(packet)
        self.offsets = tuple(offsets)
        self.count = len(packets)

    def render(self, channel: int, seq: int, timestamp: int, ssrc: int) -> bytearray:
        """The interleaved bytes of this unit for one client; `seq` is its first number."""
        buf = bytearray(self.template)
        pack, timestamp = _HEADER.pack_into, timestamp & 0xFFFFFFFF
        for k, at in enumerate(self.offsets):
            buf[at + 1] = channel
            pack(buf, at + 6, (seq + k) & 0xFFFF, timestamp, ssrc)
        return buf


def sender_report(ssrc: int, wall: float, timestamp: int, packets: int, octets: int) -> bytes:
    """An RTCP sender report (RFC 3550 6.4.1) tying an RTP timestamp to wall-clock time."""
    ntp = wall + 2_208_988_800  # seconds from 1900 to 1970
    seconds = int(ntp)
    fraction = int((ntp - seconds) * 2**32) & 0xFFFFFFFF
    return struct.pack(
        "!BBHIIIIII",
        0x80,
        200,
        6,
        ssrc,
        seconds & 0xFFFFFFFF,
        fraction,
        timestamp & 0xFFFFFFFF,
        packets & 0xFFFFFFFF,
        octets & 0xFFFFFFFF,
    )
