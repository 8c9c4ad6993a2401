"""Decoding of a ``live`` input that detection doesn't decode, only while it is watched.

When the camera's ``live`` input is also its detect input, the detect thread's decoder feeds
the :class:`~vigil.streaming.live.LiveFeed` (a tap) and nothing here runs. Otherwise the
supervisor starts a :class:`LiveDecoder` for the first MJPEG or snapshot viewer and stops it
when the last leaves. It subscribes to the input's packets (starting at a key frame, so the
first frame comes one GOP at most after the first viewer), decodes every frame (each P-frame
is a reference) and offers them to the feed, which keeps the ones it is due.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import av.error

from vigil.errors import DecodeError
from vigil.media.heartbeat import Heartbeat
from vigil.media.hub import PacketHub
from vigil.media.packets import EndOfStream
from vigil.sources.hwaccel import HwaccelChoice, open_decoder
from vigil.streaming.live import LiveFeed

LIVE_NAP = 0.04  # seconds between batches: smooth enough for the MJPEG rate cap (<= 30 fps)
LIVE_QUEUE = 90  # packets queued (3 s at 30 fps); on overflow the hub skips to a key frame


class LiveDecoder(threading.Thread):
    """Decodes one input's video for live view until :meth:`stop`."""

    def __init__(
        self,
        camera: str,
        hub: PacketHub,
        feed: LiveFeed,
        *,
        hwaccel: HwaccelChoice,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ):
        super().__init__(name=f"vigil-live-{camera}", daemon=True)
        self.feed = feed
        self.hwaccel = hwaccel
        self.log = log
        self._hub = hub
        self._sub = hub.subscribe(f"live:{camera}", LIVE_QUEUE)
        self._stopping = threading.Event()
        self.heartbeat = Heartbeat()
        self._ctx: Any = None
        self._connection: int | None = None

    def stop(self) -> None:
        self._stopping.set()
        self._hub.unsubscribe(self._sub)

    def run(self) -> None:
        while not self._stopping.is_set():
            self.heartbeat.beat()
            closed = self._sub.wait_closed(LIVE_NAP)
            try:
                items = self._sub.drain(0)
            except EndOfStream:
                break
            try:
                for item in items:
                    if item.is_video:
                        self._decode(item)
            except Exception as err:  # never end live view for good: report, wait, go on
                self._interrupted(err)
            if closed:
                break

    def _interrupted(self, err: Exception) -> None:
        """Drop the decoder the error may have left half-made; go on at a key frame."""
        error, delay = self.feed.failures.record(err, "E507", "live view interrupted")
        self.log.error("%s; going on in %.0f s", error, delay, exc_info=err)
        self.heartbeat.rest(delay)
        self._ctx = self._connection = None
        self._stopping.wait(delay)

    def _decode(self, item: Any) -> None:
        if item.info.connection != self._connection:
            if not item.keyframe:
                return
            source = item.info.video.codec_context
            try:
                self._ctx, _ = open_decoder(
                    source.name,
                    self.hwaccel,
                    thread_count=1,
                    extradata=source.extradata or None,
                    log=self.log,
                )
            except Exception as err:
                self.log.error("%s", DecodeError(f"cannot decode {source.name}: {err}"))
                self._ctx = None
            self._connection = item.info.connection
        if self._ctx is None:
            return
        try:
            frames = self._ctx.decode(item.packet)
        except av.error.FFmpegError:
            return  # a damaged packet: the decoder resyncs at the next key frame
        for frame in frames:
            self.feed.offer(frame)
