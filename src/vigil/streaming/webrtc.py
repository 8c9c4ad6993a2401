"""WebRTC live view: the camera's own H.264 packets to each viewer, never decoded or re-encoded.

    live input's hub ──> H264Relay (a thread per camera, while anyone watches over WebRTC)
                           Annex B, SPS/PPS before each IDR, the current GOP cached
                               └──> PacketTrack (one per viewer, on the event loop)
                                        └──> aiortc: RTP packetisation, SRTP, ICE

aiortc sends a track's output without encoding when ``recv()`` returns an ``av.Packet`` with
``pts`` and ``time_base`` set; its H.264 packetiser wants Annex B (start codes). So:

- packets of a source that stores H.264 as avcC (``file://`` MP4) go through FFmpeg's
  ``h264_mp4toannexb``, which also puts SPS and PPS before each IDR;
- otherwise (RTSP gives Annex B) the stream's SPS and PPS, kept out of band in its
  extradata by most cameras, are put before every key frame that lacks them: aiortc
  doesn't, and a viewer can't decode a GOP without them;
- a new viewer can't ask the camera for a key frame (the camera serves many clients and
  vigil doesn't speak RTCP to it), so it starts with the GOP cached since the last key
  frame, and sees a picture at once;
- a viewer that falls behind (its queue full) drops everything up to the next key frame,
  never single packets, since a lone missing packet corrupts every frame to the next key.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vigil.camera.hub import EndOfStream, MediaPacket, PacketHub

RELAY_NAP = 0.02  # seconds between batches (at most this much latency added)
RELAY_QUEUE = 300  # packets queued in the hub for the relay thread
TRACK_QUEUE = 150  # packets queued per viewer (5 s at 30 fps); then it waits for a key frame
MAX_GOP = 600  # packets cached since the last key frame (a 20 s GOP at 30 fps)
ANSWER_TIMEOUT = 10.0  # seconds for the answer (ICE gathering of local addresses)

_log = logging.getLogger(__name__)
Pkt: TypeAlias = "av.Packet[Any]"


class PacketTrack(MediaStreamTrack):
    """One viewer's video track: packets in (from the relay, on the loop), packets out."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque[Pkt] = deque()
        self.dropped = 0
        self._ready = asyncio.Event()
        self._waiting_key = False

    def put(self, packets: list[tuple[Pkt, bool]]) -> None:
        """Queue packets (on the event loop's thread); on overflow skip to a key frame."""
        for packet, key in packets:
            if self._waiting_key:
                if not key:
                    self.dropped += 1
                    continue
                self._waiting_key = False
            if len(self.queue) >= TRACK_QUEUE:
                self.dropped += len(self.queue)
                self.queue.clear()
                if not key:
                    self._waiting_key = True
                    self.dropped += 1
                    continue
            self.queue.append(packet)
        self._ready.set()

    def end(self) -> None:
        """The relay ended (the camera stopped): ``recv`` raises, the sender stops."""
        self.stop()
        self._ready.set()

    async def recv(self) -> Pkt:
        while not self.queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self.queue.popleft()


class H264Relay(threading.Thread):
    """The live input's packets made ready for WebRTC, and fanned out to the viewers."""

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
    ):
        super().__init__(name=f"vigil-webrtc-{camera}", daemon=True)
        self.log = log
        self.packets = 0  # packets relayed (each one to every viewer)
        self._hub = hub
        self._sub = hub.subscribe(f"webrtc:{camera}", RELAY_QUEUE)
        self._lock = threading.Lock()
        self._tracks: dict[PacketTrack, asyncio.AbstractEventLoop] = {}
        self._gop: list[tuple[Pkt, bool]] = []
        self._connection: int | None = None
        self._bsf: Any = None
        self._params = b""  # Annex B SPS + PPS from the extradata
        self._stopping = threading.Event()

    # ---- viewers (called on their event loop) ----------------------------------------------

    def add(self, track: PacketTrack) -> None:
        """A new viewer: it gets the current GOP at once, then every packet."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._tracks[track] = loop
            gop = list(self._gop)
        if gop:
            track.put(gop)

    def remove(self, track: PacketTrack) -> None:
        with self._lock:
            self._tracks.pop(track, None)

    def stop(self) -> None:
        self._stopping.set()
        self._hub.unsubscribe(self._sub)

    # ---- the thread ---------------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                closed = self._sub.wait_closed(RELAY_NAP)
                try:
                    items = self._sub.drain(0)
                except EndOfStream:
                    break
                ready = [p for item in items if item.is_video for p in self._convert(item)]
                if ready:
                    self._deliver(ready)
                if closed:
                    break
        except Exception:
            self.log.exception("WebRTC relay stopped on an unexpected error (E600)")
        finally:
            with self._lock:
                tracks, self._tracks = dict(self._tracks), {}
            for track, loop in tracks.items():
                with suppress(RuntimeError):  # a closed loop: its viewers are gone
                    loop.call_soon_threadsafe(track.end)

    def _deliver(self, ready: list[tuple[Pkt, bool]]) -> None:
        with self._lock:  # the GOP and the viewers change together (see add)
            for packet, key in ready:
                if key:
                    self._gop = []
                if len(self._gop) < MAX_GOP:
                    self._gop.append((packet, key))
            targets = list(self._tracks.items())
            self.packets += len(ready)
            for track, loop in targets:
                with suppress(RuntimeError):
                    loop.call_soon_threadsafe(track.put, ready)

    def _convert(self, item: MediaPacket) -> list[tuple[Pkt, bool]]:
        """One hub packet as Annex B packets with pts and time_base (a key frame with its
        SPS and PPS in front)."""
        if item.info.connection != self._connection:
            if not item.keyframe:
                return []  # a new stream starts at a key frame
            self._open(item)
        packet = item.packet
        if packet.pts is None:
            packet.pts = packet.dts
        if packet.pts is None:
            return []
        if self._bsf is not None:
            return [(p, bool(p.is_keyframe)) for p in self._bsf.filter(packet)]
        if item.keyframe and self._params and not _has_sps(bytes(packet)):
            framed = av.Packet(self._params + bytes(packet))
            framed.pts, framed.dts, framed.time_base = packet.pts, packet.dts, packet.time_base
            return [(framed, True)]
        return [(packet, item.keyframe)]

    def _open(self, item: MediaPacket) -> None:
        self._connection = item.info.connection
        self._bsf = None
        self._params = b""
        with self._lock:
            self._gop = []
        extradata = bytes(item.info.video.codec_context.extradata or b"")
        if extradata[:1] == b"\x01":  # avcC (MP4): length-prefixed NAL units
            self._bsf = av.BitStreamFilterContext("h264_mp4toannexb", item.info.video)
        else:
            self._params = extradata


def _has_sps(data: bytes) -> bool:
    """Whether an Annex B access unit carries an SPS among its first NAL units."""
    start = 0
    for _ in range(4):
        start = data.find(b"\x00\x00\x01", start)
        if start < 0 or start + 3 >= len(data):
            return False
        if data[start + 3] & 0x1F == 7:
            return True
        start += 3
    return False


# ---- sessions ---------------------------------------------------------------------------------


class OfferError(ValueError):
    """The SDP offer can't be answered (garbage, no video, no H.264)."""


@dataclass
class Session:
    id: str
    camera: str
    pc: RTCPeerConnection
    track: PacketTrack
    on_close: Callable[[], None]
    closed: bool = field(default=False)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.track.end()
        self.on_close()
        await self.pc.close()


class WebRtcSessions:
    """Every WebRTC session of the service, by id."""

    def __init__(self, ice_servers: list[str] | None = None):
        self.ice_servers = list(ice_servers or [])
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, int] = {}  # offers being answered, by camera

    def count(self, camera: str) -> int:
        """Sessions of `camera`, with the offers being answered."""
        open_ = sum(1 for s in self._sessions.values() if s.camera == camera)
        return open_ + self._pending.get(camera, 0)

    def reserve(self, camera: str, limit: int) -> bool:
        """Hold a place for an offer being answered; False if `camera` is at `limit`."""
        if self.count(camera) >= limit:
            return False
        self._pending[camera] = self._pending.get(camera, 0) + 1
        return True

    def release(self, camera: str) -> None:
        self._pending[camera] -= 1

    def get(self, camera: str, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        return session if session is not None and session.camera == camera else None

    async def answer(
        self,
        camera: str,
        offer_sdp: str,
        relay: H264Relay,
        on_close: Callable[[], None],
    ) -> tuple[Session, str]:
        """A session answering `offer_sdp` with H.264 only; OfferError if it can't."""
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])
        pc = RTCPeerConnection(configuration=config)
        track = PacketTrack()
        session = Session(uuid.uuid4().hex, camera, pc, track, on_close)
        try:
            # the transceiver first, so that the offer's video is matched to it and
            # negotiated against its preferences: H.264 only
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(
                [
                    c
                    for c in RTCRtpSender.getCapabilities("video").codecs
                    if c.mimeType in ("video/H264", "video/rtx")
                ]
            )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as err:
                raise OfferError(f"the offer can't be answered with H.264 video: {err}") from None
            if transceiver.mid is None:
                raise OfferError("the offer has no video")
            try:
                answer = await asyncio.wait_for(pc.createAnswer(), ANSWER_TIMEOUT)
                await asyncio.wait_for(pc.setLocalDescription(answer), ANSWER_TIMEOUT)
            except (ValueError, TypeError) as err:
                raise OfferError(f"the offer can't be answered with H.264: {err}") from None
        except BaseException:
            await pc.close()
            raise
        self._sessions[session.id] = session
        relay.add(track)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                relay.remove(track)
                await self.close(session.id)

        original = session.on_close

        def closed() -> None:
            relay.remove(track)
            original()

        session.on_close = closed
        return session, pc.localDescription.sdp

    async def close(self, session_id: str) -> bool:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        await session.close()
        return True

    async def close_all(self) -> None:
        for session_id in list(self._sessions):
            await self.close(session_id)
