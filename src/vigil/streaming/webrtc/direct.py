"""Sending a viewer's RTP straight from the input's reader thread, over aiortc's session.

Once a session is connected, :func:`direct_sink` finds its selected ICE pair's UDP socket
and its outbound SRTP session (aiortc's and aioice's internals: the versions are pinned in
pyproject.toml, and a test checks this path is taken), and a :class:`DirectSink` packetizes,
protects and sends each access unit on the thread that already holds it. Lost packets the
viewer reports (NACK) are sent again from a short history. Where the pair isn't a plain UDP
socket (TURN) or the internals aren't there, None: the viewer falls back to a LoopSink.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc import clock as rtc_clock
from aiortc.rtp import RTCP_RTPFB_NACK, RtcpRtpfbPacket
from aiortc.sdp import SessionDescription

from vigil.streaming.rtp import RtpStream, extension
from vigil.streaming.webrtc.track import AccessUnit, Log, PacketTrack

HISTORY = 512  # RTP packets a DirectSink keeps to send again on a NACK
REPORT_EVERY = 8  # send() calls between updates of aiortc's sender report counts
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"


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
