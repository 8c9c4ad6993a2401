"""Fan one input's packets out to many consumers through bounded queues.

The input's reader thread publishes; each consumer (recorder, decoder, live relay) reads its
own :class:`Subscription`. A slow consumer loses packets (counted in ``dropped``) and never
blocks the reader or the others. A queue is bounded in packets, and may be bounded in time
too (``max_seconds``: the recorder's, so that a kill -9 never takes more than that with
it). After a loss a subscription skips to the next video key frame, since a lone missing
H.264 packet corrupts every frame up to the next key frame.

Only the current publisher may publish: :meth:`PacketHub.claim` hands out a token, and a
reader thread that was abandoned (blocked in DNS, say) holds a stale one and is ignored.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from vigil.const import HUB_QUEUE_PACKETS
from vigil.media.packets import EndOfStream, MediaPacket

_log = logging.getLogger(__name__)


class Subscription:
    """One consumer's bounded queue; filled by the reader thread, drained by the consumer."""

    def __init__(self, name: str, maxsize: int, resync: bool, max_seconds: float | None = None):
        self.name = name
        self.maxsize = maxsize
        self.max_seconds = max_seconds  # the span of arrival times the queue may hold
        self.resync = resync
        self.dropped = 0
        self._items: deque[MediaPacket] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._skipping = resync  # a compressed-video consumer starts at a key frame
        self._started = False  # whether a first packet has been taken
        self._closed = False
        self._closed_event = threading.Event()  # for batching consumers' naps

    def offer(self, item: MediaPacket) -> None:
        """Queue `item`, or drop it if the queue is full, in packets or in time (then skip
        to the next key frame)."""
        with self._cond:
            if self._closed:
                return
            if self._skipping:
                if not (item.is_video and item.keyframe):
                    if self._started:  # waiting for the very first key frame loses nothing
                        self.dropped += 1
                    return
                self._skipping = False
            self._started = True
            items, span = self._items, self.max_seconds
            if len(items) >= self.maxsize or (
                span is not None and items and item.received - items[0].received > span
            ):
                self.dropped += 1
                self._skipping = self.resync
                return
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> MediaPacket | None:
        """The next packet; None after `timeout` seconds; EndOfStream once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                return self._items.popleft()
            if self._closed:
                raise EndOfStream
            return None

    def drain(self, timeout: float | None = None) -> list[MediaPacket]:
        """Every queued packet at once (waiting up to `timeout` s for one); [] on timeout.

        For consumers that can work in batches: one wake-up for many packets.
        """
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                items = list(self._items)
                self._items.clear()
                return items
            if self._closed:
                raise EndOfStream
            return []

    def __len__(self) -> int:
        return len(self._items)

    def span(self, now: float) -> float:
        """How long the oldest queued packet has waited, in seconds (0 if none)."""
        items = self._items
        try:
            return max(0.0, now - items[0].received)
        except IndexError:
            return 0.0

    def wait_closed(self, timeout: float) -> bool:
        """Nap up to `timeout` seconds, or less if the subscription closes; True if closed.

        A batching consumer naps between drains without being woken per packet."""
        return self._closed_event.wait(timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._closed_event.set()


class Tap:
    """A consumer that is handed each packet by the reader thread itself, with no queue or
    thread of its own: for consumers that only pass packets on (the WebRTC relay hands them
    to its event loop). `deliver` must return at once; `ended` is called when the hub closes.
    """

    def __init__(
        self, name: str, deliver: Callable[[MediaPacket], None], ended: Callable[[], None]
    ):
        self.name = name
        self.dropped = 0  # counted by the consumer, which is where packets can be lost
        self.failures = 0  # deliveries that raised (the tap is closed at the first)
        self._deliver = deliver
        self._ended = ended
        self._closed = False

    def offer(self, item: MediaPacket) -> None:
        if self._closed:
            return
        try:
            self._deliver(item)
        except Exception:  # the consumer's fault: it ends, the reader (and ingest) go on
            _log.exception("[E501] %s failed on a packet; it is closed", self.name)
            self.failures += 1
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._ended()

    def __len__(self) -> int:
        return 0


class PacketHub:
    """The fan-out point of one input."""

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self._subs: tuple[Subscription | Tap, ...] = ()
        self._owner: object | None = None

    def tap(
        self, name: str, deliver: Callable[[MediaPacket], None], ended: Callable[[], None]
    ) -> Tap:
        """A consumer called by the reader thread with each packet (see :class:`Tap`)."""
        tap = Tap(name, deliver, ended)
        with self._lock:
            self._subs = (*self._subs, tap)
        return tap

    def subscribe(
        self,
        name: str,
        maxsize: int = HUB_QUEUE_PACKETS,
        *,
        resync: bool = True,
        max_seconds: float | None = None,
    ) -> Subscription:
        """A new consumer; safe while running. `resync`: restart at a key frame after a loss;
        `max_seconds`: the most time (of arrival) its queue may span."""
        sub = Subscription(name, maxsize, resync, max_seconds)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription | Tap) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)
        sub.close()

    @property
    def subscriptions(self) -> tuple[Subscription | Tap, ...]:
        return self._subs

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self._subs)

    def claim(self) -> object:
        """Make a new publisher current and return its token; older tokens stop counting."""
        token = object()
        with self._lock:
            self._owner = token
        return token

    def revoke(self, token: object) -> None:
        """Stop `token` from publishing (it is being abandoned or has stopped)."""
        with self._lock:
            if self._owner is token:
                self._owner = None

    def owns(self, token: object) -> bool:
        return self._owner is token

    def publish(self, token: object, item: MediaPacket) -> bool:
        """Hand `item` to every subscriber; False (and nothing sent) for a stale token."""
        with self._lock:
            if self._owner is not token:
                return False
            for sub in self._subs:
                sub.offer(item)
        return True

    def close(self) -> None:
        """End every subscription: consumers drain what they have, then see EndOfStream."""
        with self._lock:
            subs, self._subs, self._owner = self._subs, (), None
        for sub in subs:
            sub.close()
