"""WebRTC live view: the camera's own H.264 packets to each viewer, never decoded or re-encoded.

    live input's hub ──> H264Relay (per camera, on the event loop, while anyone watches)
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

from vigil.camera.hub import MediaPacket, PacketHub

RELAY_BACKLOG = 300  # packets handed to the event loop and not yet taken; then it drops
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


class H264Relay:
    """The live input's packets made ready for WebRTC and fanned out to the viewers.

    It lives on the event loop. The input's reader thread hands it each video packet
    through a hub :class:`~vigil.camera.hub.Tap` and ``call_soon_threadsafe`` (no thread or
    queue of its own: a wake-up of the loop per packet, which sends them at once). If the
    loop falls :data:`RELAY_BACKLOG` packets behind, packets are dropped up to the next key
    frame.
    """

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        loop: asyncio.AbstractEventLoop,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
    ):
        self.camera = camera
        self.hub = hub
        self.log = log
        self.packets = 0  # packets relayed (each one to every viewer)
        self.dropped = 0  # packets dropped because the loop fell behind
        self.ended = False
        self._loop = loop
        self._tracks: set[PacketTrack] = set()
        self._gop: list[tuple[Pkt, bool]] = []
        self._connection: int | None = None
        self._bsf: Any = None
        self._params = b""  # Annex B SPS + PPS from the extradata
        self._backlog = 0  # packets handed to the loop, not yet taken (reader thread's view)
        self._skipping = False
        self._tap = hub.tap(f"webrtc:{camera}", self._from_reader, self._hub_closed)

    # ---- the reader thread --------------------------------------------------------------

    def _from_reader(self, item: MediaPacket) -> None:
        if not item.is_video:
            return
        if self._skipping or self._backlog >= RELAY_BACKLOG:
            if not item.keyframe:
                self._skipping = True
                self.dropped += 1
                return
            self._skipping = False
        self._backlog += 1
        with suppress(RuntimeError):  # the loop has closed: the service is stopping
            self._loop.call_soon_threadsafe(self._on_packet, item)

    def _hub_closed(self) -> None:
        with suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._end)

    # ---- the event loop -------------------------------------------------------------------

    def add(self, track: PacketTrack) -> None:
        """A new viewer: it gets the current GOP at once, then every packet."""
        self._tracks.add(track)
        if self._gop:
            track.put(list(self._gop))

    def remove(self, track: PacketTrack) -> None:
        self._tracks.discard(track)

    @property
    def viewers(self) -> int:
        return len(self._tracks)

    def close(self) -> None:
        """Stop taking packets (the last viewer left)."""
        self.hub.unsubscribe(self._tap)

    def _end(self) -> None:
        """The input stopped (the camera was stopped or replaced): every viewer's track ends."""
        self.ended = True
        for track in list(self._tracks):
            track.end()
        self._tracks.clear()

    def _on_packet(self, item: MediaPacket) -> None:
        self._backlog -= 1
        try:
            ready = self._convert(item)
        except Exception:  # a packet the filter refuses: drop it, not the relay
            self.log.exception("WebRTC: a packet could not be converted")
            return
        for packet, key in ready:
            if key:
                self._gop = []
            if len(self._gop) < MAX_GOP:
                self._gop.append((packet, key))
        self.packets += len(ready)
        for track in self._tracks:
            track.put(ready)

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
        self._relays: dict[str, H264Relay] = {}  # by camera, while it has viewers

    def relay(self, camera: str) -> H264Relay | None:
        return self._relays.get(camera)

    def _relay_for(
        self,
        camera: str,
        hub: PacketHub,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> H264Relay:
        relay = self._relays.get(camera)
        if relay is None or relay.ended or relay.hub is not hub:
            if relay is not None:
                relay.close()
            relay = H264Relay(camera, hub, asyncio.get_running_loop(), log)
            self._relays[camera] = relay
        return relay

    def _leave(self, relay: H264Relay, track: PacketTrack) -> None:
        relay.remove(track)
        if not relay.viewers:
            relay.close()
            if self._relays.get(relay.camera) is relay:
                del self._relays[relay.camera]

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
        hub: PacketHub,
        on_close: Callable[[], None],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _log,
    ) -> tuple[Session, str]:
        """A session sending `hub`'s packets, answering `offer_sdp` with H.264 only;
        OfferError if it can't."""
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
        relay = self._relay_for(camera, hub, log)
        relay.add(track)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

        def closed() -> None:
            self._leave(relay, track)
            on_close()

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
