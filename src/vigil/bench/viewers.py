"""The viewers of ``vigil bench --profile live``, in a process of their own so that their CPU
(reading, and the WebRTC client's decoding) is not counted as the server's.

``python -m vigil.bench.viewers --url URL --kind mjpeg|webrtc --count N --seconds S`` prints
the frames a second each viewer got, as JSON; with ``--cycles C`` (the churn profile) the
viewers instead come and go C times, each reading a first frame, and it prints how many
did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urljoin, urlsplit
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


def _mjpeg_cycles(url: str, cycles: int, tally: dict[str, int], show: bool) -> None:
    """Open the MJPEG stream, read its first frame, close; `cycles` times."""
    parts = urlsplit(url)
    marker = b"Content-Type: image/jpeg"
    for _ in range(cycles):
        ok = False
        try:
            with socket.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 80), 15
            ) as sock:
                sock.sendall(f"GET {parts.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                got = b""
                while marker not in got and len(got) < 1 << 20:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                ok = marker in got
        except OSError:
            pass
        _count(tally, ok, show)


async def _webrtc_cycles(url: str, cycles: int, tally: dict[str, int], show: bool) -> None:
    """Connect a WebRTC viewer, wait for its first frame, close it; `cycles` times."""
    readers: list[asyncio.Future[None]] = []  # the track readers, held until they end
    for _ in range(cycles):
        ok = False
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        first = asyncio.get_running_loop().create_future()

        @pc.on("track")
        def on_track(
            track: Any,
            first: asyncio.Future[None] = first,
            readers: list[asyncio.Future[None]] = readers,
        ) -> None:
            async def read() -> None:
                with contextlib.suppress(Exception):
                    await track.recv()
                    if not first.done():
                        first.set_result(None)

            readers.append(asyncio.ensure_future(read()))

        location = ""
        try:
            await pc.setLocalDescription(await pc.createOffer())
            request = Request(  # noqa: S310 - a local http URL the bench built
                url,
                data=pc.localDescription.sdp.encode(),
                headers={"Content-Type": "application/sdp"},
            )

            def post(request: Request = request) -> tuple[str, str]:
                with urlopen(request, timeout=30) as response:  # noqa: S310
                    return response.read().decode(), response.headers.get("Location", "")

            answer, location = await asyncio.to_thread(post)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await asyncio.wait_for(first, 20)
            ok = True
        except (OSError, TimeoutError, ValueError):
            pass
        finally:
            await pc.close()
            if location:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(_delete, urljoin(url, location))
        _count(tally, ok, show)


def _delete(url: str) -> None:
    with urlopen(Request(url, method="DELETE"), timeout=15):  # noqa: S310 - the bench's URL
        pass


def _count(tally: dict[str, int], ok: bool, show: bool) -> None:
    with _TALLY_LOCK:
        tally["ok" if ok else "failed"] += 1
        done = tally["ok"] + tally["failed"]
        if show and (done % 50 == 0 or done == tally["cycles"]):
            sys.stderr.write(f"\r   cycles: {done}/{tally['cycles']} ({tally['failed']} failed)")
            sys.stderr.flush()


_TALLY_LOCK = threading.Lock()


def _run_cycles(url: str, kind: str, count: int, cycles: int, show: bool) -> dict[str, int]:
    tally = {"ok": 0, "failed": 0, "cycles": cycles}
    if kind == "webrtc":
        asyncio.run(_webrtc_cycles(url, cycles, tally, show))
    else:
        shares = [cycles // count + (n < cycles % count) for n in range(count)]
        threads = [
            threading.Thread(target=_mjpeg_cycles, args=(url, share, tally, show))
            for share in shares
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if show:
        sys.stderr.write("\n")
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bench viewers (vigil bench --profile live)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["mjpeg", "webrtc", "snapshot"], required=True)
    parser.add_argument("--header", help='one request header, "Name: value"')
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--cycles", type=int, default=0, help="come and go this many times instead (churn)"
    )
    parser.add_argument("--progress", action="store_true", help="show the cycles on stderr")
    args = parser.parse_args(argv)
    if args.cycles:
        print(json.dumps(_run_cycles(args.url, args.kind, args.count, args.cycles, args.progress)))
        return 0
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
