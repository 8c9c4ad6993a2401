"""The relay: a camera's live input's packets made ready for WebRTC and fanned out to every
viewer, on the input's reader thread (see the package's doc for what "ready" means).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import suppress
from typing import Any

import av

from vigil.media.hub import PacketHub
from vigil.media.packets import MediaPacket
from vigil.streaming.webrtc.track import AccessUnit, Log, Sink

MAX_GOP = 600  # packets cached since the last key frame (a 20 s GOP at 30 fps)

_log = logging.getLogger(__name__)


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
                self._send(sink, list(self._gop))  # the GOP so far, this packet included
        for sink in sinks:
            self._send(sink, ready)

    def _send(self, sink: Sink, units: list[AccessUnit]) -> None:
        """One viewer's send, on the reader thread: if it fails, that viewer is dropped,
        and neither the reader (ingest, recording) nor the other viewers notice."""
        try:
            sink.send(units)
        except Exception:
            self.log.exception("[E501] WebRTC: sending to a viewer failed; that viewer is dropped")
            self.remove(sink)
            with suppress(RuntimeError):  # the loop is gone: nothing left to close
                self._loop.call_soon_threadsafe(sink.close)

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
