"""An RTSP 1.0 server (RFC 2326) for simulated cameras: RTP over TCP interleaved.

Paths are ``/camN/main`` and ``/camN/sub``. A PLAYing client becomes a :class:`Track` of
the shared pacer of its stream's frame rate (see ``sender.py``); RTP timestamps and sequence
numbers run on across the clip's loop point.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import re
import time
from dataclasses import dataclass, field

from vigil.sim.audio import AudioClip
from vigil.sim.auth import Credentials
from vigil.sim.media import Clip
from vigil.sim.rtp import CLOCK_RATE, PAYLOAD_TYPE
from vigil.sim.sender import Faults, Media, Pacer, Track

_log = logging.getLogger(__name__)
_PATH = re.compile(r"^/(cam\d+)/(main|sub)(?:/trackID=\d+)?/?$")
MAX_HEADER_BYTES = 16 * 1024
SERVER = "vigil-sim/1"


@dataclass
class SimCamera:
    """One simulated camera: its streams (and their other-size twins), credentials, faults."""

    name: str
    streams: dict[str, Clip]
    alt_streams: dict[str, Clip] = field(default_factory=dict)
    credentials: Credentials | None = None
    faults: Faults = field(default_factory=Faults)
    audio: AudioClip | None = None  # sent with every stream of the camera, as trackID=1
    clients: int = 0

    def clips(self, stream: str, track: int) -> dict[str, Media]:
        """What a track sends: video (and its other size) for track 0, audio for track 1."""
        if track == 1 and self.audio is not None:
            return {"normal": self.audio}
        out: dict[str, Media] = {"normal": self.streams[stream]}
        if stream in self.alt_streams:
            out["alt"] = self.alt_streams[stream]
        return out


class BadRequest(Exception):
    """A request that can't be parsed (answered 400)."""


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def cseq(self) -> str:
        return self.headers.get("cseq", "0")


class RtspServer:
    """Serves a set of :class:`SimCamera` on one port."""

    def __init__(
        self,
        cameras: dict[str, SimCamera],
        host: str = "127.0.0.1",
        port: int = 8554,
        epoch: float | None = None,
    ):
        self.cameras = cameras
        self.host = host
        self.port = port
        self.epoch = time.monotonic() if epoch is None else epoch  # tick 0 of every stream
        self._pacers: dict[float, Pacer] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def pacer(self, fps: float) -> Pacer:
        """The shared pacer of one frame rate."""
        if fps not in self._pacers:
            self._pacers[fps] = Pacer(fps, self.epoch)
        return self._pacers[fps]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for pacer in self._pacers.values():
            if pacer.task is not None:
                pacer.task.cancel()
                self._tasks.add(pacer.task)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        session = Session(self, reader, writer)
        try:
            await session.run()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            await session.close()


class Session:
    """One client connection."""

    def __init__(
        self, server: RtspServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.session_id = f"{random.getrandbits(48):012X}"
        self.camera: SimCamera | None = None
        self.stream: str | None = None
        self.channels: dict[int, int] = {}  # track id -> interleaved RTP channel
        self.tracks: list[Track] = []
        self.playing = False

    async def run(self) -> None:
        while True:
            try:
                request = await self._read_request()
            except BadRequest as err:
                await self._respond("0", 400, "Bad Request", body=str(err).encode())
                return
            if request is None:
                return
            if not await self._handle(request):
                return

    async def close(self) -> None:
        if self.playing and self.camera is not None:
            self.camera.clients -= 1
        for track in self.tracks:
            track.close()
            self.server.pacer(track.clip.rate).discard(track)
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def _read_request(self) -> Request | None:
        while True:
            first = await self.reader.read(1)
            if not first:
                return None
            if first == b"$":  # an interleaved frame from the client (RTCP): skip it
                head = await self.reader.readexactly(3)
                await self.reader.readexactly(int.from_bytes(head[1:3], "big"))
                continue
            break
        try:
            raw = first + await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as err:
            raise BadRequest("header too long") from err
        if len(raw) > MAX_HEADER_BYTES:
            raise BadRequest("header too long")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("RTSP/1."):
            raise BadRequest(f"bad request line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise BadRequest(f"bad header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_HEADER_BYTES:
            raise BadRequest("bad Content-Length")
        body = await self.reader.readexactly(int(length)) if int(length) else b""
        return Request(parts[0], parts[1], headers, body)

    async def _respond(
        self,
        cseq: str,
        status: int,
        reason: str,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        lines = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", f"Server: {SERVER}"]
        lines += [f"{k}: {v}" for k, v in items]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()

    def _resolve(self, url: str) -> tuple[SimCamera, str] | None:
        path = re.sub(r"^rtsp://[^/]*", "", url).split("?", 1)[0]
        match = _PATH.match(path)
        if not match:
            return None
        camera = self.server.cameras.get(match.group(1))
        if camera is None or match.group(2) not in camera.streams:
            return None
        return camera, match.group(2)

    async def _handle(self, req: Request) -> bool:
        """Answer one request; False ends the connection."""
        if req.method == "OPTIONS":
            methods = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
            await self._respond(req.cseq, 200, "OK", {"Public": methods})
            return True
        if req.method not in ("DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER"):
            await self._respond(req.cseq, 405, "Method Not Allowed")
            return True
        target = self._resolve(req.url)
        if target is None:
            await self._respond(req.cseq, 404, "Not Found")
            return True
        camera, stream = target
        if camera.faults.refuse:
            return False
        if camera.faults.unauthorized or (
            camera.credentials
            and not camera.credentials.check(req.method, req.headers.get("authorization"))
        ):
            creds = camera.credentials or Credentials("", "")
            await self._respond(
                req.cseq, 401, "Unauthorized", [("WWW-Authenticate", c) for c in creds.challenge()]
            )
            return True
        handler = {
            "DESCRIBE": self._describe,
            "SETUP": self._setup,
            "PLAY": self._play,
            "TEARDOWN": self._teardown,
            "GET_PARAMETER": self._get_parameter,
        }[req.method]
        return await handler(req, camera, stream)

    async def _describe(self, req: Request, camera: SimCamera, stream: str) -> bool:
        sdp = sdp_for(camera.streams[stream], self.server.host, camera.audio).encode()
        base = re.sub(r"/(trackID=\d+)?$", "", req.url.split("?", 1)[0]) + "/"
        headers = {"Content-Type": "application/sdp", "Content-Base": base}
        await self._respond(req.cseq, 200, "OK", headers, sdp)
        return True

    async def _setup(self, req: Request, camera: SimCamera, stream: str) -> bool:
        transport = req.headers.get("transport", "")
        match = re.search(r"interleaved=(\d+)(?:-(\d+))?", transport)
        if "TCP" not in transport.upper() or not match:
            await self._respond(req.cseq, 461, "Unsupported Transport")
            return True
        track = int(m.group(1)) if (m := re.search(r"trackID=(\d+)", req.url)) else 0
        if track > (1 if camera.audio is not None else 0):
            await self._respond(req.cseq, 404, "Not Found")
            return True
        self.camera, self.stream = camera, stream
        channel = int(match.group(1))
        self.channels[track] = channel
        headers = {
            "Transport": f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}",
            "Session": f"{self.session_id};timeout=60",
        }
        await self._respond(req.cseq, 200, "OK", headers)
        return True

    async def _play(self, req: Request, camera: SimCamera, stream: str) -> bool:
        if self.camera is None or self.stream is None:
            await self._respond(req.cseq, 455, "Method Not Valid in This State")
            return True
        if not self.tracks:
            for track_id, channel in sorted(self.channels.items()):
                self.tracks.append(
                    Track(
                        self.camera.clips(self.stream, track_id),
                        channel,
                        self.camera.faults,
                        self.writer,
                        ssrc=random.getrandbits(32),
                        seq=random.getrandbits(16),
                        ts_base=random.getrandbits(32),
                    )
                )
        base = req.url.rstrip("/")
        rtp_info = ",".join(
            f"url={base}/trackID={tid};seq={t.seq};rtptime={t.ts_base}"
            for tid, t in zip(sorted(self.channels), self.tracks, strict=True)
        )
        headers = {"Session": self.session_id, "Range": "npt=0.000-", "RTP-Info": rtp_info}
        await self._respond(req.cseq, 200, "OK", headers)
        if not self.playing:
            self.playing = True
            self.camera.clients += 1
            for track in self.tracks:
                self.server.pacer(track.clip.rate).add(track)
        return True

    async def _teardown(self, req: Request, camera: SimCamera, stream: str) -> bool:
        await self._respond(req.cseq, 200, "OK", {"Session": self.session_id})
        return False

    async def _get_parameter(self, req: Request, camera: SimCamera, stream: str) -> bool:
        await self._respond(req.cseq, 200, "OK", {"Session": self.session_id})
        return True


def sdp_for(clip: Clip, host: str, audio: AudioClip | None = None) -> str:
    """The SDP of a camera stream (with its parameter sets), and of its audio if any."""
    b64 = base64.b64encode
    if clip.spec.codec == "h265":
        rtpmap = f"H265/{CLOCK_RATE}"
        fmtp = ";".join(
            f"sprop-{name}={b64(value).decode()}"
            for name, value in (("vps", clip.vps), ("sps", clip.sps), ("pps", clip.pps))
        )
    else:
        rtpmap = f"H264/{CLOCK_RATE}"
        sprop = ",".join(b64(p).decode() for p in (clip.sps, clip.pps))
        profile = clip.sps[1:4].hex().upper()
        fmtp = f"packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={sprop}"
    return "\r\n".join(
        [
            "v=0",
            f"o=- 0 0 IN IP4 {host}",
            "s=vigil-sim",
            f"c=IN IP4 {host}",
            "t=0 0",
            "a=control:*",
            f"m=video 0 RTP/AVP {PAYLOAD_TYPE}",
            f"a=rtpmap:{PAYLOAD_TYPE} {rtpmap}",
            f"a=fmtp:{PAYLOAD_TYPE} {fmtp}",
            f"a=framerate:{clip.spec.fps}",
            f"a=x-dimensions:{clip.spec.width},{clip.spec.height}",
            "a=control:trackID=0",
            *(audio.sdp(1) if audio is not None else []),
            "",
        ]
    )
