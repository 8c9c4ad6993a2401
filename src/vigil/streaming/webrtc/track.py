"""A WebRTC viewer as the relay sees it: a :class:`Sink` of :class:`AccessUnit` on the reader
thread, with the :class:`PacketTrack` aiortc needs per sender; and :class:`LoopSink`, the
fallback that sends through aiortc's own machinery on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import suppress
from typing import Any, Protocol, TypeAlias

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from vigil.streaming.rtp import frame_payloads

LOOP_BACKLOG = 300  # packets handed to the event loop for a LoopSink and not yet taken
TRACK_QUEUE = 150  # packets queued per LoopSink viewer (5 s at 30 fps); then a key frame

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
