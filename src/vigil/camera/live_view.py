"""A camera's live view: its JPEG feed, and the decoding that feeds it while anyone watches.

Frames for MJPEG and snapshots come from the detect decoder when live view shows the input
detection decodes (a tap on its decoder, no second decode), else from a
:class:`~vigil.streaming.live_decoder.LiveDecoder` of their own, started for the first
viewer and stopped after the last. WebRTC viewers need no frames: their relay taps the live
input's hub (:mod:`vigil.streaming.webrtc`). The supervisor connects an on-demand camera
for its first viewer and, once :meth:`LiveView.idle` says nobody has watched for a while,
parks it.
"""

from __future__ import annotations

import logging
import threading

from vigil.config import CameraConfig
from vigil.media.clock import Clock
from vigil.media.cpu import CpuMeter
from vigil.media.hub import PacketHub
from vigil.pipeline.detector import Detector
from vigil.streaming.live import LiveFeed
from vigil.streaming.live_decoder import LiveDecoder


class LiveView:
    """The live view of one camera; its supervisor calls it under the camera's lock."""

    def __init__(
        self, camera: str, config: CameraConfig, cpu: CpuMeter, log: logging.Logger, clock: Clock
    ):
        self.camera = camera
        self.config = config
        self.log = log
        self.clock = clock
        self.feed = LiveFeed(camera, config.live, cpu, clock.now)
        self._decoder: LiveDecoder | None = None

    def start_frames(self, hub: PacketHub, detector: Detector | None) -> None:
        """Decode `hub`'s input for live view: the detect decoder's frames when it decodes
        that input, else a decoder of its own."""
        if detector is not None and detector.hub is hub:
            detector.set_tap(self.feed.offer)
        elif self._decoder is None:
            self._decoder = LiveDecoder(
                self.camera, hub, self.feed, hwaccel=self.config.hwaccel, log=self.log
            )
            self._decoder.start()

    def stop_frames(self, detector: Detector | None) -> threading.Thread | None:
        """No viewer wants frames any more; the decoder that stopped, to join if need be (it
        ends at its next batch)."""
        if detector is not None:
            detector.set_tap(None)
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.stop()
        return decoder

    @property
    def decoder(self) -> LiveDecoder | None:
        """Live view's own decoder, while it runs."""
        return self._decoder

    @property
    def thread_id(self) -> int | None:
        decoder = self._decoder
        return decoder.native_id if decoder is not None else None

    def idle(self) -> bool:
        """Nobody has watched for ``live.idle_stop_seconds`` (of the camera's clock)."""
        feed, limit = self.feed, self.config.live.idle_stop_seconds
        return not feed.viewers and self.clock.now() - feed.last_viewer_left >= limit
