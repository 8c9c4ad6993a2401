"""The viewers of ``vigil bench --profile live``, in a process of their own so that their CPU
(reading, and the WebRTC client's decoding) is not counted as the server's.

``python -m vigil.bench.viewers --url URL --kind mjpeg|webrtc --count N --seconds S`` prints
the frames a second each viewer got, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from aiortc import RTCPeerConnection, RTCSessionDescription


def _mjpeg_viewer(url: str, seconds: float, out: list[float]) -> None:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 15)
    sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    marker = b"Content-Type: image/jpeg"
    count, buf, tail = 0, b"", b""
    first: float | None = None
    last = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        buf = sock.recv(1 << 20)
        if not buf:
            break
        hits = (tail + buf).count(marker)
        if hits:
            now = time.monotonic()
            if first is None:
                first = now
            else:
                count += hits
            last = now
        tail = buf[-len(marker) :]
    sock.close()
    elapsed = last - first if first is not None else 0.0
    out.append(round(count / elapsed, 2) if elapsed > 0 else 0.0)


async def _webrtc_viewer(url: str, seconds: float) -> float:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    times: list[float] = []
    readers: list[asyncio.Task[None]] = []

    async def read(track: Any) -> None:
        while True:
            try:
                await track.recv()
            except Exception:
                return
            times.append(time.monotonic())

    @pc.on("track")
    def on_track(track: Any) -> None:
        readers.append(asyncio.ensure_future(read(track)))

    await pc.setLocalDescription(await pc.createOffer())
    request = Request(  # noqa: S310 - a local http URL the bench built
        url, data=pc.localDescription.sdp.encode(), headers={"Content-Type": "application/sdp"}
    )
    answer = await asyncio.to_thread(lambda: urlopen(request, timeout=30).read().decode())  # noqa: S310
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(seconds)
    await pc.close()
    if len(times) < 2:
        return 0.0
    return round((len(times) - 1) / (times[-1] - times[0]), 2)


async def _webrtc_viewers(url: str, count: int, seconds: float) -> list[float]:
    return list(await asyncio.gather(*(_webrtc_viewer(url, seconds) for _ in range(count))))


def _snapshot_poller(url: str, seconds: float, header: str | None, out: list[float]) -> None:
    """A grid tile: the snapshot once a second, as the page polls it."""
    headers = dict([header.split(": ", 1)]) if header else {}
    got, started = 0, time.monotonic()
    tick = started
    while time.monotonic() - started < seconds:
        with urlopen(Request(url, headers=headers), timeout=15) as response:  # noqa: S310
            got += response.status == 200 and bool(response.read())
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
    out.append(got / seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench viewers (vigil bench --profile live)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["mjpeg", "webrtc", "snapshot"], required=True)
    parser.add_argument("--header", help='one request header, "Name: value"')
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    rates: list[float] = []
    if args.kind in ("mjpeg", "snapshot"):
        threads = [
            threading.Thread(target=_mjpeg_viewer, args=(args.url, args.seconds, rates))
            if args.kind == "mjpeg"
            else threading.Thread(
                target=_snapshot_poller, args=(args.url, args.seconds, args.header, rates)
            )
            for _ in range(args.count)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        rates.extend(asyncio.run(_webrtc_viewers(args.url, args.count, args.seconds)))
    print(json.dumps(sorted(rates)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
