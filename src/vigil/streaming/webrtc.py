"""WebRTC live view: the camera's own H.264 packets to each viewer, never decoded or re-encoded.

    live input's hub ──> H264Relay (per camera, on the input's reader thread, while anyone
                           │          watches): Annex B, SPS/PPS before each IDR, the GOP cached
                           ├──> DirectSink (a viewer): RTP, SRTP, sendto, on the same thread
                           └──> LoopSink (a viewer): PacketTrack on the event loop ──> aiortc

aiortc does the session: signalling, ICE, DTLS, the SRTP keys, RTCP. It can also send a
track's packets without encoding them (when ``recv()`` returns an ``av.Packet`` with ``pts``
and ``time_base``), but on the event loop and in Python for every RTP packet: about 100 µs a
packet with the loop's wake-ups, +1.7 % of a core for one viewer of a 500 kbit/s sub-stream
(docs/benchmarks.md). So once a session is connected, a :class:`DirectSink` packetizes each
access unit (:mod:`vigil.streaming.rtp`), protects it with the session's SRTP keys and sends
it on the session's UDP socket, from the reader thread that already holds the packet: no
wake-up of another thread, no per-packet objects. Lost packets that the viewer reports
(NACK) are sent again from a short history. When the selected ICE candidate pair isn't a
plain UDP socket (a TURN relay) or aiortc's internals aren't the expected ones, the viewer
falls back to aiortc's own sending (:class:`LoopSink`).

Before either, the packets are made ready for WebRTC:

- packets of a source that stores H.264 as avcC (``file://`` MP4) go through FFmpeg's
  ``h264_mp4toannexb``, which also puts SPS and PPS before each IDR;
- otherwise (RTSP gives Annex B) the stream's SPS and PPS, kept out of band in its
  extradata by most cameras, are put before every key frame that lacks them: a viewer
  can't decode a GOP without them;
- a new viewer can't ask the camera for a key frame (the camera serves many clients and
  vigil doesn't speak RTCP to it), so it starts with the GOP cached since the last key
  frame, and sees a picture at once;
- a viewer that falls behind (its queue or socket full) drops everything up to the next key
  frame, never single packets, since a lone missing packet corrupts every frame to the next
  key.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import clock as rtc_clock
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket
from aiortc.sdp import SessionDescription

from vigil.media.hub import PacketHub
from vigil.media.packets import MediaPacket
from vigil.streaming.rtp import RtpStream, extension, frame_payloads

LOOP_BACKLOG = 300  # packets handed to the event loop for a LoopSink and not yet taken
TRACK_QUEUE = 150  # packets queued per LoopSink viewer (5 s at 30 fps); then a key frame
MAX_GOP = 600  # packets cached since the last key frame (a 20 s GOP at 30 fps)
ANSWER_TIMEOUT = 10.0  # seconds for the answer (ICE gathering of local addresses)
HISTORY = 512  # RTP packets a DirectSink keeps to send again on a NACK
REPORT_EVERY = 8  # send() calls between updates of aiortc's sender report counts
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"

_log = logging.getLogger(__name__)
Pkt: TypeAlias = "av.Packet[Any]"
Log: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"


class PacketTrack(MediaStreamTrack):
    """One viewer's video track, as aiortc needs one per sender. With a :class:`LoopSink`
    it carries the packets (in from the relay, on the loop; out to aiortc); with a
    :class:`DirectSink` it carries nothing and ends with the session."""

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
        """The session or the relay ended: ``recv`` raises, aiortc's sender stops."""
        self.stop()
        self._ready.set()

    async def recv(self) -> Pkt:
        while not self.queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self.queue.popleft()


class AccessUnit:
    """One video packet made ready for WebRTC (Annex B, pts and time_base set). Its RTP
    payloads are cut once, when the first :class:`DirectSink` asks, and shared by every
    viewer of the camera (only the RTP headers and SRTP differ per viewer)."""

    __slots__ = ("_payloads", "key", "packet")

    def __init__(self, packet: Pkt, key: bool):
        self.packet = packet
        self.key = key
        self._payloads: list[bytes] | None = None

    @property
    def payloads(self) -> list[bytes]:
        if self._payloads is None:
            self._payloads = frame_payloads(bytes(self.packet))
        return self._payloads


class Sink(Protocol):
    """A viewer as the relay sees it. ``send`` runs on the input's reader thread."""

    direct: bool
    track: PacketTrack

    def send(self, units: list[AccessUnit]) -> None: ...

    def close(self) -> None: ...


class LoopSink:
    """A viewer sent through aiortc: the packets go to the event loop (a wake-up each
    batch) and into the viewer's :class:`PacketTrack`. If the loop falls
    :data:`LOOP_BACKLOG` packets behind, they are dropped up to the next key frame."""

    direct = False

    def __init__(self, track: PacketTrack, loop: asyncio.AbstractEventLoop):
        self.track = track
        self.dropped = 0
        self._loop = loop
        self._backlog = 0  # packets handed to the loop, not yet taken (reader thread's view)
        self._skipping = False

    def send(self, units: list[AccessUnit]) -> None:
        if self._skipping or self._backlog >= LOOP_BACKLOG:
            while units and not units[0].key:
                self.dropped += 1
                units = units[1:]
            self._skipping = not units
            if not units:
                return
        self._backlog += len(units)
        packets = [(unit.packet, unit.key) for unit in units]
        with suppress(RuntimeError):  # the loop has closed: the service is stopping
            self._loop.call_soon_threadsafe(self._deliver, packets)

    def _deliver(self, packets: list[tuple[Pkt, bool]]) -> None:
        self._backlog -= len(packets)
        self.track.put(packets)

    def close(self) -> None:
        self.track.end()


class LockedSrtp:
    """The DTLS transport's outbound SRTP session, shared by aiortc (RTCP, on the loop) and
    a :class:`DirectSink` (RTP, on a reader thread): libsrtp's sessions are not
    thread-safe, so each call takes a lock."""

    def __init__(self, session: Any):
        self.session = session
        self._lock = threading.Lock()

    def protect(self, data: bytes) -> bytes:
        with self._lock:
            out: bytes = self.session.protect(data)
            return out

    def protect_rtcp(self, data: bytes) -> bytes:
        with self._lock:
            out: bytes = self.session.protect_rtcp(data)
            return out


class DirectSink:
    """A viewer sent straight from the reader thread: RTP (:class:`RtpStream`), the
    session's SRTP, and ``sendto`` on the selected ICE pair's UDP socket (a duplicate of
    its descriptor, closed by :meth:`close` under the same lock as sending).

    aiortc keeps its part: ICE consent, DTLS, RTCP. Its sender reports carry this sink's
    counts (updated every :data:`REPORT_EVERY` frames: a report pairs a wall time with the
    RTP timestamp of the same moment, so it stays exact, only its counts lag), and the
    viewer's NACKs are answered from :data:`HISTORY` packets kept here.
    """

    direct = True

    def __init__(
        self,
        track: PacketTrack,
        stream: RtpStream,
        srtp: LockedSrtp,
        sock: socket.socket,
        address: tuple[Any, ...],
        sender: RTCRtpSender,
    ):
        self.track = track
        self.stream = stream
        self.sent = 0  # RTP packets sent
        self.resent = 0  # RTP packets sent again for a NACK
        self.dropped = 0  # access units dropped (a full socket, then up to a key frame)
        self._srtp = srtp
        self._sock = sock
        self._address = address
        self._sender = sender
        self._history: list[tuple[int, bytes] | None] = [None] * HISTORY
        self._lock = threading.Lock()
        self._waiting_key = False
        self._closed = False
        self._report = _report_fields(sender)
        self._frames = 0  # send() calls
        handle = getattr(sender, "_handle_rtcp_packet", None)
        if handle is not None:  # NACKs are answered here; the rest is aiortc's
            sender._handle_rtcp_packet = self._rtcp(handle)  # type: ignore[method-assign,assignment]

    def send(self, units: list[AccessUnit]) -> None:
        with self._lock:
            if self._closed:
                return
            stream, protect, history = self.stream, self._srtp.protect, self._history
            sendto, address = self._sock.sendto, self._address
            for unit in units:
                if self._waiting_key and not unit.key:
                    self.dropped += 1
                    continue
                self._waiting_key = False
                tb, pts = unit.packet.time_base, unit.packet.pts
                if pts is None or tb is None:
                    continue
                timestamp = stream.timestamp(pts, tb.numerator, tb.denominator)
                for seq, data in stream.packetize(unit.payloads, timestamp):
                    history[seq % HISTORY] = (seq, data)
                    try:
                        sendto(protect(data), address)
                    except BlockingIOError:
                        self._waiting_key = True  # the socket is full: the rest of the GOP waits
                        self.dropped += 1
                        break
                    except OSError:
                        self._closed = True  # the network went; ICE consent ends the session
                        return
                    self.sent += 1
            self._frames += 1
            if self._report is not None and self._frames % REPORT_EVERY == 1:
                self._report(self)

    def _rtcp(self, handle: Callable[[Any], Any]) -> Callable[[Any], Any]:
        async def handle_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                self.resend(packet.lost)
            else:
                await handle(packet)

        return handle_rtcp

    def resend(self, lost: list[int]) -> None:
        """Send again the packets a NACK lists (those still in the history)."""
        with self._lock:
            if self._closed:
                return
            for seq in lost:
                kept = self._history[seq % HISTORY]
                if kept is not None and kept[0] == seq:
                    with suppress(OSError):
                        self._sock.sendto(self._srtp.protect(kept[1]), self._address)
                        self.resent += 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._sock.close()
        self.track.end()


_REPORT = ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count")


def _report_fields(sender: RTCRtpSender) -> Callable[[DirectSink], None] | None:
    """A setter of the counts in aiortc's RTCP sender reports (kept in its sender's private
    fields), or None if they aren't there."""
    names = [f"_RTCRtpSender__{name}" for name in _REPORT]
    if not all(hasattr(sender, name) for name in names):
        return None

    def report(sink: DirectSink) -> None:
        stream = sink.stream
        values = (
            rtc_clock.current_ntp_time(),
            stream.last_timestamp,
            stream.packets & 0xFFFFFFFF,
            stream.octets & 0xFFFFFFFF,
        )
        for name, value in zip(names, values, strict=True):
            setattr(sender, name, value)

    return report


def direct_sink(
    pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, track: PacketTrack, log: Log
) -> DirectSink | None:
    """A :class:`DirectSink` for a connected session, or None (then aiortc sends) if its
    ICE pair isn't a plain UDP socket or aiortc's internals aren't the expected ones."""
    sender = transceiver.sender
    dtls = sender.transport
    connection = getattr(dtls.transport, "_connection", None)  # aioice's Connection
    pair = getattr(connection, "_nominated", {}).get(1)
    srtp = getattr(dtls, "_tx_srtp", None)
    if pair is None or srtp is None:
        log.info("WebRTC: aiortc sends this viewer's packets (no ICE pair or SRTP session)")
        return None
    kind = pair.local_candidate.type
    if kind not in ("host", "srflx"):
        log.info("WebRTC: aiortc sends this viewer's packets (a %s ICE candidate)", kind)
        return None
    raw = pair.protocol.transport.get_extra_info("socket")
    if raw is None or raw.type != socket.SOCK_DGRAM:
        return None
    media = _media(pc.localDescription.sdp, transceiver.mid)
    if media is None:
        return None
    payload_type, ssrc, mid_id = media
    if not isinstance(srtp, LockedSrtp):
        srtp = LockedSrtp(srtp)
        dtls._tx_srtp = srtp  # type: ignore[assignment]  # the same two methods, locked
    sock = socket.socket(raw.family, raw.type, raw.proto, fileno=os.dup(raw.fileno()))
    sock.setblocking(False)
    stream = RtpStream(
        ssrc=ssrc,
        payload_type=payload_type,
        sequence=int.from_bytes(os.urandom(2), "big"),
        timestamp_origin=int.from_bytes(os.urandom(4), "big"),
        ext=extension(mid_id, transceiver.mid),
    )
    return DirectSink(track, stream, srtp, sock, pair.remote_addr, sender)


def _media(sdp: str, mid: str | None) -> tuple[int, int, int | None] | None:
    """The payload type, SSRC and mid extension id that our answer gave `mid`'s video."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind != "video" or media.rtp.muxId != mid or not media.ssrc:
            continue
        codecs = [c for c in media.rtp.codecs if c.mimeType.lower() == "video/h264"]
        if not codecs or media.rtp.codecs[0] is not codecs[0] or codecs[0].payloadType is None:
            return None
        mid_id = next((e.id for e in media.rtp.headerExtensions if e.uri == MID_URI), None)
        return codecs[0].payloadType, media.ssrc[0].ssrc, mid_id
    return None


class H264Relay:
    """The live input's packets made ready for WebRTC and fanned out to the viewers.

    It runs on the input's reader thread, called through a hub
    :class:`~vigil.media.hub.Tap` with each packet: no thread or queue of its own. Viewers
    join and leave from the event loop (under a lock); a joining viewer gets the cached
    GOP with the next packet.
    """

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        loop: asyncio.AbstractEventLoop,
        log: Log = _log,
    ):
        self.camera = camera
        self.hub = hub
        self.log = log
        self.packets = 0  # access units relayed (each one to every viewer)
        self.ended = False
        self.viewers = 0  # sessions using this relay (connected or not yet)
        self._loop = loop
        self._lock = threading.Lock()
        self._sinks: tuple[Sink, ...] = ()
        self._joining: list[Sink] = []
        self._gop: list[AccessUnit] = []
        self._connection: int | None = None
        self._bsf: Any = None
        self._params = b""  # Annex B SPS + PPS from the extradata
        self._tap = hub.tap(f"webrtc:{camera}", self._from_reader, self._hub_closed)

    @property
    def sinks(self) -> tuple[Sink, ...]:
        return self._sinks

    # ---- the reader thread --------------------------------------------------------------

    def _from_reader(self, item: MediaPacket) -> None:
        if not item.is_video:
            return
        try:
            ready = self._convert(item)
        except Exception:  # a packet the filter refuses: drop it, not the relay
            self.log.exception("WebRTC: a packet could not be converted")
            return
        if not ready:
            return
        for unit in ready:
            if unit.key:
                self._gop = []
            if len(self._gop) < MAX_GOP:
                self._gop.append(unit)
        self.packets += len(ready)
        sinks = self._sinks
        if self._joining:
            with self._lock:
                joining, self._joining = self._joining, []
                self._sinks = self._sinks + tuple(joining)
            for sink in joining:
                sink.send(list(self._gop))  # the GOP so far, this packet included
        for sink in sinks:
            sink.send(ready)

    def _hub_closed(self) -> None:
        with suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._end)

    # ---- the event loop -------------------------------------------------------------------

    def add(self, sink: Sink) -> None:
        """A connected viewer: from the next packet on, the current GOP, then every packet."""
        with self._lock:
            self._joining.append(sink)

    def remove(self, sink: Sink) -> None:
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)
            if sink in self._joining:
                self._joining.remove(sink)

    def close(self) -> None:
        """Stop taking packets (the last viewer left)."""
        self.hub.unsubscribe(self._tap)

    def _end(self) -> None:
        """The input stopped (the camera was stopped or replaced): every viewer's track ends."""
        self.ended = True
        with self._lock:
            sinks = list(self._sinks) + self._joining
            self._sinks, self._joining = (), []
        for sink in sinks:
            sink.close()

    def _convert(self, item: MediaPacket) -> list[AccessUnit]:
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
            return [AccessUnit(p, bool(p.is_keyframe)) for p in self._bsf.filter(packet)]
        if item.keyframe and self._params and not _has_sps(bytes(packet)):
            framed = av.Packet(self._params + bytes(packet))
            framed.pts, framed.dts, framed.time_base = packet.pts, packet.dts, packet.time_base
            return [AccessUnit(framed, True)]
        return [AccessUnit(packet, item.keyframe)]

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
    transceiver: RTCRtpTransceiver
    track: PacketTrack
    relay: H264Relay
    on_close: Callable[[], None]
    sink: Sink | None = None
    closed: bool = field(default=False)

    def connected(self, direct: bool, log: Log) -> None:
        """DTLS is up: the viewer joins the relay, sent directly if it can be."""
        if self.closed or self.sink is not None:
            return
        sink: Sink | None = None
        if direct:
            try:
                sink = direct_sink(self.pc, self.transceiver, self.track, log)
            except Exception:  # aiortc's internals changed: its own sending still works
                log.exception("WebRTC: direct sending is unavailable, aiortc sends")
        self.sink = sink or LoopSink(self.track, asyncio.get_running_loop())
        self.relay.add(self.sink)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sink is not None:
            self.relay.remove(self.sink)
            self.sink.close()
        self.track.end()
        self.on_close()
        await self.pc.close()


class WebRtcSessions:
    """Every WebRTC session of the service, by id. ``direct`` False makes every viewer go
    through aiortc's own sending (tests of that path)."""

    def __init__(self, ice_servers: list[str] | None = None, direct: bool = True):
        self.ice_servers = list(ice_servers or [])
        self.direct = direct
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, int] = {}  # offers being answered, by camera
        self._relays: dict[str, H264Relay] = {}  # by camera, while it has viewers

    def relay(self, camera: str) -> H264Relay | None:
        return self._relays.get(camera)

    def _relay_for(self, camera: str, hub: PacketHub, log: Log) -> H264Relay:
        relay = self._relays.get(camera)
        if relay is None or relay.ended or relay.hub is not hub:
            if relay is not None:
                relay.close()
            relay = H264Relay(camera, hub, asyncio.get_running_loop(), log)
            self._relays[camera] = relay
        return relay

    def _leave(self, relay: H264Relay) -> None:
        relay.viewers -= 1
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
        log: Log = _log,
    ) -> tuple[Session, str]:
        """A session sending `hub`'s packets, answering `offer_sdp` with H.264 only;
        OfferError if it can't."""
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])
        pc = RTCPeerConnection(configuration=config)
        track = PacketTrack()
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
        relay = self._relay_for(camera, hub, log)  # it caches the GOP from now on
        relay.viewers += 1

        def closed() -> None:
            self._leave(relay)
            on_close()

        session = Session(uuid.uuid4().hex, camera, pc, transceiver, track, relay, closed)
        self._sessions[session.id] = session

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState == "connected":
                session.connected(self.direct, log)
            elif pc.connectionState in ("failed", "closed"):
                await self.close(session.id)

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
