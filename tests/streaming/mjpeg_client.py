"""A minimal MJPEG client over a raw socket, so tests control how fast it reads."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass


@dataclass
class Part:
    jpeg: bytes
    received: float


class MjpegClient:
    def __init__(self, port: int, path: str, rcvbuf: int | None = None):
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(15)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = head.decode("latin-1").lower()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _exactly(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._fill()
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def part(self) -> Part:
        """The next JPEG part (chunked transfer framing is skipped over)."""
        while True:
            head = self._until(b"\r\n\r\n")
            if b"--vigilframe" in head:
                break
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return Part(self._exactly(length), time.monotonic())

    def close(self) -> None:
        self.sock.close()
