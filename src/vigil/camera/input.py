"""One input of a camera: its source, hub, counters and state, across reconnects and restarts.

The reader thread (:class:`InputReader`) calls in with its token; calls with a stale token
(from a thread that was abandoned) change nothing.
"""

from __future__ import annotations

import logging
import threading
import time

from vigil.camera.backoff import RetryPolicy
from vigil.camera.reader import InputReader, Timing
from vigil.camera.state import State
from vigil.camera.stats import InputCounters, RateWindow
from vigil.camera.status import InputStatus
from vigil.config import Role
from vigil.errors import VigilError
from vigil.media.clock import MONOTONIC, Clock
from vigil.media.hub import PacketHub
from vigil.media.packets import MediaPacket, StreamInfo
from vigil.sources.network import Network
from vigil.sources.url import SourceSpec


class CameraInput:
    """The runtime of one configured input."""

    def __init__(
        self,
        camera: str,
        index: int,
        spec: SourceSpec,
        roles: list[Role],
        retry_policy: RetryPolicy,
        log: logging.Logger,
        clock: Clock = MONOTONIC,
        networks: tuple[Network, ...] = (),
    ):
        self.camera = camera
        self.index = index
        self.spec = spec
        self.roles = roles
        self.label = "+".join(r.value for r in roles) or f"input{index}"
        self.hub = PacketHub(f"{camera}/{self.label}")
        self.counters = InputCounters()
        self.rates = RateWindow()
        self.log = log
        self.clock = clock  # of backoff; packets and figures are on time.monotonic
        self.networks = networks  # server.camera_networks, checked at each connect
        self.state = State.STOPPED
        self.last_error: VigilError | None = None
        self.info: StreamInfo | None = None
        self.retry_at: float | None = None  # when the next try is due (of the clock)
        self.backoff: float | None = None  # seconds of the wait before it
        self._policy = retry_policy
        self._reader: InputReader | None = None
        self._lock = threading.Lock()

    # ---- called by the supervisor -----------------------------------------------------

    def start(self, timing: Timing) -> None:
        """Start a reader thread (a new token makes any older thread's writes void)."""
        with self._lock:
            token = self.hub.claim()
            self.state = State.STARTING
            self._wait(None)
            self._reader = InputReader(self, token, timing)
            self._reader.start()

    def stop(self) -> InputReader | None:
        """Tell the reader to stop and void its token; return it for joining."""
        with self._lock:
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.stop_event.set()
                self.hub.revoke(reader.token)
            self.state = State.STOPPED
            self._wait(None)
            self.counters.connected_at = None
        return reader

    def restart(self, timing: Timing, error: VigilError) -> None:
        """Abandon the current reader (it may be blocked) and start a fresh one."""
        self.last_error = error
        self.counters.reconnects += 1
        self.stop()
        self.start(timing)
        self.state = State.RECONNECTING

    @property
    def thread_id(self) -> int | None:
        reader = self._reader
        return reader.native_id if reader is not None else None

    # ---- called by the reader thread, with its token ----------------------------------

    def retry_delay(self, attempt: int, error: VigilError) -> float | None:
        return self._policy(attempt, error, self.spec.kind)

    def streamed(self) -> float:
        """Seconds from the current session's connection to its last packet (0 if none)."""
        connected_at = self.counters.connected_at
        return 0.0 if connected_at is None else max(0.0, self.counters.last_packet - connected_at)

    def set_state(self, token: object, state: State) -> None:
        with self._lock:
            if self.hub.owns(token):
                self.state = state

    def connected(self, token: object, info: StreamInfo) -> bool:
        with self._lock:
            if not self.hub.owns(token):
                return False
            self.info = info
            self.state = State.STREAMING
            self._wait(None)
            self.counters.connected_at = self.counters.last_packet = time.monotonic()
        self.log.info(
            "streaming %s: %s %dx%d at %s fps",
            self.spec.display,
            info.codec,
            info.width,
            info.height,
            f"{info.fps:.2f}" if info.fps else "?",
        )
        return True

    def publish(self, token: object, item: MediaPacket) -> bool:
        if not self.hub.publish(token, item):
            return False
        counters = self.counters
        counters.packets += 1
        counters.bytes += item.packet.size
        if item.is_video:
            counters.video_packets += 1
            counters.last_packet = item.received
        return True

    def report_error(self, token: object, error: VigilError, delay: float | None) -> bool:
        """Record a failed connection; False if the token is stale (the thread must end)."""
        with self._lock:
            if not self.hub.owns(token):
                return False
            self.last_error = error
            self.counters.connected_at = None
            self._wait(delay)
            if delay is None:
                self.state = State.FAILED
            else:
                self.state = State.RECONNECTING
                self.counters.reconnects += 1
        if delay is None:
            self.log.error("%s; giving up (retrying cannot fix this)", error)
        else:
            self.log.warning("%s; retrying in %.0f s", error, delay)
        return True

    # ---- read by the monitor and the API -------------------------------------------------

    def status(self, now: float) -> InputStatus:
        rates = self.rates.rates()
        info = self.info
        streaming = self.state is State.STREAMING
        connected_at = self.counters.connected_at
        return InputStatus(
            index=self.index,
            roles=[r.value for r in self.roles],
            url=self.spec.display,
            state=self.state,
            fps=round(rates.fps, 2) if streaming else 0.0,
            packets_per_s=round(rates.packets_per_s, 2) if streaming else 0.0,
            bytes_per_s=round(rates.bytes_per_s, 1) if streaming else 0.0,
            codec=info.codec if info else None,
            width=info.width if info else None,
            height=info.height if info else None,
            reconnects=self.counters.reconnects,
            dropped=self.hub.dropped,
            uptime=round(now - connected_at, 1) if streaming and connected_at else None,
            last_error=self.last_error.detail() if self.last_error else None,
            retry_in=self._retry_in(),
            backoff=self.backoff,
        )

    def _wait(self, delay: float | None) -> None:
        """The wait before the next try begins (None: no wait)."""
        self.backoff = delay
        self.retry_at = None if delay is None else self.clock.now() + delay

    def _retry_in(self) -> float | None:
        retry_at = self.retry_at
        return None if retry_at is None else round(max(0.0, retry_at - self.clock.now()), 1)
