"""The packet hub: fan-out, bounded queues, key-frame resync, stale publishers."""

from __future__ import annotations

import threading
import time

import pytest

from vigil.media.hub import PacketHub, Subscription
from vigil.media.packets import EndOfStream, MediaPacket, StreamInfo

INFO = StreamInfo(connection=1, codec="h264", width=320, height=180, fps=15.0, video=None)


class FakePacket:
    size = 100


def pkt(n: int, key: bool = False, video: bool = True) -> MediaPacket:
    item = MediaPacket(FakePacket(), INFO, video, key, float(n))
    return item


def drain(sub: Subscription) -> list[float]:
    out = []
    while (item := sub.get(timeout=0)) is not None:
        out.append(item.received)
    return out


def test_every_subscriber_gets_every_packet() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    a, b = hub.subscribe("a"), hub.subscribe("b")
    for n in range(10):
        assert hub.publish(token, pkt(n, key=n == 0))
    assert drain(a) == drain(b) == [float(n) for n in range(10)]


def test_compressed_consumer_starts_at_a_key_frame() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("rec")
    for n in range(6):
        hub.publish(token, pkt(n, key=n == 3))
    assert drain(sub) == [3.0, 4.0, 5.0]
    # waiting for the first key frame is not a loss: `dropped` counts what a slow consumer
    # lost once it had started (with audio, the wait alone was ~50 packets per connect)
    assert sub.dropped == 0


def test_slow_subscriber_drops_then_resyncs_without_blocking_others() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    slow = hub.subscribe("slow", maxsize=4)
    fast = hub.subscribe("fast", maxsize=1000)
    # GOP of 5: key frames at 0, 5, 10, 15
    for n in range(20):
        hub.publish(token, pkt(n, key=n % 5 == 0))
    assert drain(fast) == [float(n) for n in range(20)]
    # slow kept 0-3, lost 4 (full), skipped to nothing: the queue stayed full
    assert drain(slow) == [0.0, 1.0, 2.0, 3.0]
    assert slow.dropped == 16
    for n in range(20, 27):
        hub.publish(token, pkt(n, key=n % 5 == 0))
    # after a loss it waits for the next key frame (25), never a lone P-frame (20 is key too)
    assert drain(slow) == [20.0, 21.0, 22.0, 23.0]
    assert hub.dropped == slow.dropped


def test_audio_and_non_key_frames_wait_for_resync() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("rec")
    hub.publish(token, pkt(0, key=True, video=False))  # an audio "key" packet is no resync point
    hub.publish(token, pkt(1, key=True))
    assert drain(sub) == [1.0]


def test_raw_consumer_without_resync_takes_what_fits() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("frames", maxsize=2, resync=False)
    for n in range(4):
        hub.publish(token, pkt(n))
    assert drain(sub) == [0.0, 1.0]
    hub.publish(token, pkt(9))
    assert drain(sub) == [9.0]


def test_stale_token_publishes_nothing() -> None:
    hub = PacketHub("t")
    old = hub.claim()
    sub = hub.subscribe("a", resync=False)
    new = hub.claim()
    assert not hub.publish(old, pkt(1))
    assert hub.publish(new, pkt(2))
    hub.revoke(new)
    assert not hub.publish(new, pkt(3))
    assert drain(sub) == [2.0]


def test_close_ends_subscriptions_after_draining() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("a", resync=False)
    hub.publish(token, pkt(1))
    hub.close()
    assert sub.get(timeout=1) is not None
    with pytest.raises(EndOfStream):
        sub.get(timeout=1)
    assert not hub.publish(token, pkt(2))


def test_get_wakes_on_publish_from_another_thread() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("a", resync=False)
    threading.Timer(0.05, lambda: hub.publish(token, pkt(7))).start()
    item = sub.get(timeout=5)
    assert item is not None and item.received == 7.0


def test_subscribe_and_unsubscribe_while_publishing() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    stop = threading.Event()
    errors: list[BaseException] = []

    def publisher() -> None:
        n = 0
        try:
            while not stop.is_set():
                hub.publish(token, pkt(n, key=n % 10 == 0))
                n += 1
        except BaseException as err:  # pragma: no cover - the test fails on it
            errors.append(err)

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        for _ in range(200):
            sub = hub.subscribe("x", maxsize=8)
            hub.unsubscribe(sub)
    finally:
        stop.set()
        thread.join(5)
    assert errors == []
    assert hub.subscriptions == ()


def test_drain_takes_everything_queued_at_once() -> None:
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("batch", resync=False)
    assert sub.drain(timeout=0) == []
    for n in range(5):
        hub.publish(token, pkt(n))
    assert [item.received for item in sub.drain(timeout=0)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    hub.close()
    with pytest.raises(EndOfStream):
        sub.drain(timeout=1)


def test_a_napping_consumer_wakes_at_close_not_per_packet() -> None:
    hub = PacketHub("cam")
    token = hub.claim()
    sub = hub.subscribe("recorder")
    hub.publish(token, pkt(1, key=True))  # a packet does not end the nap
    started = time.monotonic()
    assert sub.wait_closed(0.2) is False
    assert time.monotonic() - started >= 0.2
    threading.Timer(0.1, hub.close).start()
    assert sub.wait_closed(30) is True  # not False, as at the end of a nap: the close woke it


def test_a_queue_bounded_in_time_drops_what_would_make_it_span_more() -> None:
    # the recorder's queue: at most `max_seconds` of arrival times, whatever the packet count,
    # so a kill -9 while it is behind loses no more than that
    hub = PacketHub("t")
    token = hub.claim()
    sub = hub.subscribe("rec", maxsize=1000, max_seconds=2.0)  # packets arrive 1 s apart
    for n in range(6):
        hub.publish(token, pkt(n, key=n % 3 == 0))
    assert drain(sub) == [0.0, 1.0, 2.0]  # 3 would span 3 s; then it waits for key frame 6
    assert sub.dropped == 3
    for n in range(6, 9):
        hub.publish(token, pkt(n, key=n % 3 == 0))
    assert drain(sub) == [6.0, 7.0, 8.0]  # drained in time: nothing more lost
    assert sub.dropped == 3
    assert sub.span(now=10.0) == 0.0
    hub.publish(token, pkt(9, key=True))
    assert sub.span(now=10.5) == 1.5
