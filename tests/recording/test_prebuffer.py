"""The events-mode pre-buffer: reaches back pre_seconds to a key frame, and is bounded."""

from __future__ import annotations

import av

from vigil.media.packets import MediaPacket, StreamInfo
from vigil.recording.prebuffer import PreBuffer

INFO = StreamInfo(1, "h264", 320, 180, 15.0, video=None)
FPS, GOP = 15, 15  # a key frame every second


def packet(n: int, size: int = 100) -> MediaPacket:
    return MediaPacket(av.Packet(bytes(size)), INFO, True, n % GOP == 0, received=n / FPS)


def test_holds_at_least_pre_seconds_from_a_key_frame() -> None:
    buffer = PreBuffer(seconds=2.5)
    for n in range(1, 10 * FPS):  # starts mid-GOP: frames before the first key are skipped
        buffer.push(packet(n), n / FPS)
        if buffer.span:
            assert buffer.span >= min(2.5, n / FPS - 1.0)  # once 2.5 s have been seen
            assert buffer.span < 2.5 + 1.0  # never a whole GOP more than needed
    taken = buffer.take(since=(10 * FPS - 1) / FPS - 2.5)
    assert taken[0].keyframe
    newest = 10 * FPS - 1
    assert (newest - taken[0].received * FPS) / FPS >= 2.5
    assert len(buffer) == 0 and buffer.bytes == 0


def test_take_starts_at_the_key_frame_at_or_before_the_trigger() -> None:
    buffer = PreBuffer(seconds=5)
    for n in range(6 * FPS):
        buffer.push(packet(n), n / FPS)
    taken = buffer.take(since=3.5)
    assert taken[0].keyframe and taken[0].received == 3.0
    assert taken[-1].received == (6 * FPS - 1) / FPS


def test_is_bounded_in_bytes() -> None:
    buffer = PreBuffer(seconds=60, max_bytes=50_000)
    for n in range(20 * FPS):
        buffer.push(packet(n, size=1000), n / FPS)
        # whole GOPs go; the newest GOP always stays, however big
        assert buffer.bytes <= 50_000 + GOP * 1000
    assert buffer.span < 4
