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

The package, one concept a module:

- :mod:`~vigil.streaming.webrtc.track`: what a viewer is to the relay (a :class:`Sink` of
  :class:`AccessUnit`), its :class:`PacketTrack`, and aiortc's own sending (:class:`LoopSink`);
- :mod:`~vigil.streaming.webrtc.direct`: sending from the reader thread over aiortc's
  internals (:class:`DirectSink`);
- :mod:`~vigil.streaming.webrtc.relay`: the live input's packets made ready and fanned out
  (:class:`H264Relay`);
- :mod:`~vigil.streaming.webrtc.sessions`: the WHEP-style sessions (:class:`WebRtcSessions`).
"""

from __future__ import annotations

from vigil.streaming.webrtc.direct import DirectSink
from vigil.streaming.webrtc.relay import H264Relay
from vigil.streaming.webrtc.sessions import OfferError, Session, WebRtcSessions
from vigil.streaming.webrtc.track import AccessUnit, LoopSink, PacketTrack, Sink

__all__ = [
    "AccessUnit",
    "DirectSink",
    "H264Relay",
    "LoopSink",
    "OfferError",
    "PacketTrack",
    "Session",
    "Sink",
    "WebRtcSessions",
]
