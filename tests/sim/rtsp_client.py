"""A minimal raw-socket RTSP client for protocol tests."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class RtpPacket:
    channel: int
    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


class RawRtsp:
    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawRtsp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self, n: int) -> None:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by server")
            self.buf += data

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> Response:
        self.cseq += 1
        lines = [f"{method} {url} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode())
        return self.read_response()

    def read_response(self) -> Response:
        while True:  # skip interleaved frames that arrive before the answer
            self._fill(1)
            if self.buf[:1] == b"$":
                self.read_frame()
                continue
            break
        while b"\r\n\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
            if name.strip().lower() == "www-authenticate":
                headers[f"www-authenticate-{value.strip().split()[0].lower()}"] = value.strip()
        length = int(headers.get("content-length", "0"))
        self._fill(length)
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def read_interleaved(self) -> tuple[int, bytes]:
        """The next interleaved frame: its channel and bytes."""
        self._fill(4)
        if self.buf[:1] != b"$":
            raise ValueError(f"not an interleaved frame: {self.buf[:8]!r}")
        channel, length = self.buf[1], struct.unpack("!H", self.buf[2:4])[0]
        self._fill(4 + length)
        packet, self.buf = self.buf[4 : 4 + length], self.buf[4 + length :]
        return channel, packet

    def read_frame(self, channel: int = 0) -> RtpPacket:
        """The next RTP packet on `channel` (RTCP and other tracks are skipped)."""
        while True:
            got, packet = self.read_interleaved()
            if got == channel:
                break
        b0, b1, seq, timestamp, ssrc = struct.unpack("!BBHII", packet[:12])
        assert b0 >> 6 == 2, "RTP version 2"
        return RtpPacket(got, bool(b1 & 0x80), b1 & 0x7F, seq, timestamp, ssrc, packet[12:])

    def read_raw(self, n: int) -> bytes:
        self._fill(n)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def play(self, url: str) -> Response:
        """DESCRIBE, SETUP (TCP interleaved 0-1) and PLAY."""
        described = self.request("DESCRIBE", url, {"Accept": "application/sdp"})
        assert described.status == 200, described.status
        base = described.headers["content-base"]
        setup = self.request(
            "SETUP", base + "trackID=0", {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
        )
        assert setup.status == 200, setup.status
        session = setup.headers["session"].split(";")[0]
        return self.request("PLAY", url, {"Session": session, "Range": "npt=0.000-"})


def access_units(client: RawRtsp, count: int) -> list[tuple[int, list[bytes]]]:
    """Read `count` access units (by marker bit) and reassemble their NAL units (FU-A)."""
    units: list[tuple[int, list[bytes]]] = []
    nals: list[bytes] = []
    fu = bytearray()
    while len(units) < count:
        pkt = client.read_frame()
        payload = pkt.payload
        kind = payload[0] & 0x1F
        if kind == 28:  # FU-A
            header = payload[1]
            if header & 0x80:
                fu = bytearray([(payload[0] & 0xE0) | (header & 0x1F)])
            fu += payload[2:]
            if header & 0x40:
                nals.append(bytes(fu))
        else:
            nals.append(payload)
        if pkt.marker:
            units.append((pkt.timestamp, nals))
            nals = []
    return units


def timestamps_until_error(client: RawRtsp, limit: int = 100_000) -> list[int]:
    """The RTP timestamps read until the connection failed; fail if it never does."""
    stamps: list[int] = []
    try:
        for _ in range(limit):
            stamps.append(client.read_frame().timestamp)
    except ConnectionError:
        return stamps
    raise AssertionError(f"{limit} packets and no error")


def read_until_error(client: RawRtsp, limit: int = 100_000) -> None:
    """Read RTP until the connection fails (what a fault test expects); fail if it never does."""
    for _ in range(limit):
        client.read_frame()
    raise AssertionError(f"{limit} packets and no error")
