"""vigil's H.264 RTP packetizing (the WebRTC viewers' fast path), checked against aiortc's
own RTP parser and H.264 depayloader, and the DirectSink's sending over real UDP sockets."""

from __future__ import annotations

import os
import socket
from fractions import Fraction
from typing import Any

import av
import pytest
from aiortc import RTCRtpParameters
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from vigil.streaming.rtp import (
    MAX_PAYLOAD,
    RtpStream,
    extension,
    frame_payloads,
    nal_units,
    payloads,
)
from vigil.streaming.webrtc.direct import HISTORY, MID_URI, DirectSink
from vigil.streaming.webrtc.track import AccessUnit, PacketTrack

SPS = b"\x67\x42\xc0\x1e\xaa"
PPS = b"\x68\xce\x3c\x80"


def body(size: int) -> bytes:
    """Slice data: no zero bytes, so no start code inside (real H.264 escapes them)."""
    return bytes(b or 1 for b in os.urandom(size))


IDR = b"\x65" + body(3000)
SLICE = b"\x41" + body(700)


def annex_b(*units: bytes, long_codes: bool = True) -> bytes:
    code = b"\x00\x00\x00\x01" if long_codes else b"\x00\x00\x01"
    return b"".join(code + unit for unit in units)


@pytest.mark.parametrize("long_codes", [True, False])
def test_nal_units_split_on_3_and_4_byte_start_codes(long_codes: bool) -> None:
    assert nal_units(annex_b(SPS, PPS, IDR, long_codes=long_codes)) == [SPS, PPS, IDR]
    assert nal_units(annex_b(SLICE) + b"\x00\x00") == [SLICE]  # trailing zero bytes
    assert nal_units(b"") == [] and nal_units(b"\x00\x00\x01") == []


def test_large_units_go_as_fu_a_fragments_that_reassemble() -> None:
    parts = list(payloads([SPS, IDR, SLICE]))
    assert parts[0] == SPS and parts[-1] == SLICE  # small units whole
    fragments = parts[1:-1]
    assert len(fragments) == -(-(len(IDR) - 1) // (MAX_PAYLOAD - 2))
    assert all(len(p) <= MAX_PAYLOAD for p in fragments)
    assert all(p[0] & 0x1F == 28 and p[0] & 0x60 == IDR[0] & 0x60 for p in fragments)
    assert fragments[0][1] & 0x80 and not fragments[0][1] & 0x40  # start bit
    assert fragments[-1][1] & 0x40 and not fragments[-1][1] & 0x80  # end bit
    assert all(p[1] & 0x1F == 5 for p in fragments)
    # aiortc's depayloader (the receiving side) rebuilds the access unit
    rebuilt = b""
    for part in parts:
        _, data = H264PayloadDescriptor.parse(part)
        rebuilt += data
    assert nal_units(rebuilt) == [SPS, IDR, SLICE]


def test_packets_parse_as_rtp_with_the_mid_extension() -> None:
    stream = RtpStream(
        ssrc=0xDEADBEEF,
        payload_type=102,
        sequence=0xFFFE,
        timestamp_origin=0xFFFFFF00,
        ext=extension(4, "0"),
    )
    ts = stream.timestamp(3, 1, 15)  # 3/15 s: 18 000 ticks of 90 kHz, past the wrap
    assert ts == (0xFFFFFF00 + 18_000) & 0xFFFFFFFF
    packets = stream.packetize(frame_payloads(annex_b(SPS, PPS, IDR)), ts)
    ext_map = HeaderExtensionsMap()  # what the session negotiated
    ext_map.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=4, uri=MID_URI)])
    )
    parsed = [RtpPacket.parse(data, ext_map) for _, data in packets]
    assert [p.sequence_number for p in parsed] == [seq for seq, _ in packets]
    assert [seq for seq, _ in packets][:3] == [0xFFFE, 0xFFFF, 0]  # it wraps
    assert [p.marker for p in parsed] == [0] * (len(parsed) - 1) + [1]  # end of the frame
    assert {(p.ssrc, p.payload_type, p.timestamp) for p in parsed} == {(0xDEADBEEF, 102, ts)}
    assert {p.extensions.mid for p in parsed} == {"0"}
    assert stream.packets == len(packets) and stream.last_timestamp == ts
    assert stream.octets == sum(len(p.payload) for p in parsed)
    assert extension(None, "0") == b"" and extension(4, None) == b""


class PlainSrtp:
    """No encryption (the SRTP keys come from a DTLS handshake, which the WebRTC tests do
    for real): protect returns the packet as it is."""

    def protect(self, data: bytes) -> bytes:
        return data

    def protect_rtcp(self, data: bytes) -> bytes:
        return data


class FullSocket:
    """Fault injection: a UDP socket whose buffer is full for the next `full` sends."""

    def __init__(self, real: socket.socket, full: int):
        self.real, self.full = real, full

    def sendto(self, data: bytes, address: Any) -> int:
        if self.full:
            self.full -= 1
            raise BlockingIOError
        return self.real.sendto(data, address)

    def close(self) -> None:
        self.real.close()


def access_unit(data: bytes, pts: int) -> AccessUnit:
    packet = av.Packet(data)
    packet.pts, packet.time_base = pts, Fraction(1, 15)
    return AccessUnit(packet, data[4] & 0x1F == 7)


def receive_all(sock: socket.socket) -> list[RtpPacket]:
    out = []
    sock.settimeout(0.5)
    try:
        while True:
            out.append(RtpPacket.parse(sock.recv(4096)))
    except TimeoutError:
        return out


@pytest.fixture
def udp() -> Any:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield rx, tx
    rx.close()
    tx.close()


def sink_for(tx: Any, address: Any) -> DirectSink:
    stream = RtpStream(ssrc=7, payload_type=102, sequence=100, timestamp_origin=0)
    sender: Any = object()  # no aiortc sender: no RTCP hooks
    return DirectSink(PacketTrack(), stream, PlainSrtp(), tx, address, sender)  # type: ignore[arg-type]


def test_direct_sink_sends_frames_and_answers_a_nack(udp: Any) -> None:
    rx, tx = udp
    sink = sink_for(tx, rx.getsockname())
    sink.send([access_unit(annex_b(SPS, PPS, IDR), 0), access_unit(annex_b(SLICE), 1)])
    got = receive_all(rx)
    assert [p.sequence_number for p in got] == list(range(100, 100 + len(got)))
    assert sink.sent == len(got) == sink.stream.packets
    assert got[-1].timestamp == 6000 and got[-1].marker == 1  # 1/15 s at 90 kHz
    sink.resend([101, 102, 100 + len(got) + 5])  # the last one was never sent
    again = receive_all(rx)
    assert [p.sequence_number for p in again] == [101, 102]
    assert [p.payload for p in again] == [got[1].payload, got[2].payload]
    assert sink.resent == 2
    sink.close()
    sink.send([access_unit(annex_b(SLICE), 2)])  # closed: nothing more
    assert sink.sent == len(got)


def test_viewers_share_a_frames_payloads_and_get_their_own_headers(udp: Any) -> None:
    rx, tx = udp
    first, second = sink_for(tx, rx.getsockname()), sink_for(tx, rx.getsockname())
    second.stream = RtpStream(ssrc=8, payload_type=96, sequence=5000, timestamp_origin=77)
    unit = access_unit(annex_b(SPS, PPS, IDR), 3)
    first.send([unit])
    cut = unit.payloads
    second.send([unit])
    assert unit.payloads is cut  # cut once, for both
    got = receive_all(rx)
    mine = [p for p in got if p.ssrc == 7]
    theirs = [p for p in got if p.ssrc == 8]
    assert [p.payload for p in mine] == [p.payload for p in theirs] == cut
    assert theirs[0].sequence_number == 5000 and theirs[0].payload_type == 96
    assert theirs[0].timestamp == 77 + 18_000 and mine[0].timestamp == 18_000


def test_a_full_socket_skips_to_the_next_key_frame(udp: Any) -> None:
    rx, tx = udp
    sink = sink_for(FullSocket(tx, full=1), rx.getsockname())
    sink.send([access_unit(annex_b(SLICE), 0), access_unit(annex_b(SLICE), 1)])
    assert receive_all(rx) == [] and sink.dropped == 2  # the rest of the GOP waits
    sink.send([access_unit(annex_b(SPS, PPS, IDR), 2)])
    assert len(receive_all(rx)) > 1  # from the key frame on
    assert HISTORY >= 256
