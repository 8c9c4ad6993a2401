"""A connection's first segment is placed by the least delayed of the packets read with
its first frame, not by the first frame's own, late, arrival."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from vigil.media.packets import MediaPacket, StreamInfo
from vigil.recording.placement import first_frame_wall

BASE = 1 / 90_000
FRAME = 6000  # ticks of a 15 fps frame


class Packet:
    def __init__(self, dts: int | None):
        self.dts = dts


def packets(info: StreamInfo, stamps: Sequence[tuple[int | None, float]]) -> list[MediaPacket]:
    """(dts, monotonic arrival) of each video packet."""
    return [MediaPacket(Packet(dts), info, True, False, received) for dts, received in stamps]


INFO = StreamInfo(1, "h264", 320, 180, 15.0, None)


def test_a_burst_after_probing_is_taken_back_to_when_it_was_live() -> None:
    # five frames probed and handed over together at t=10.4, then one every frame time
    burst = [(n * FRAME, 10.4) for n in range(5)]
    live = [(n * FRAME, 10.4 + (n - 4) / 15) for n in range(5, 12)]
    batch = packets(INFO, burst + live)
    arrival_of = 1000.4  # the first frame's arrival on the wall clock
    # the fifth frame (4/15 s in) arrived on time at 10.4: the first was live 4/15 s before
    assert first_frame_wall(batch[0], batch, BASE, arrival_of, 5.0) == pytest.approx(
        1000.4 - 4 / 15
    )


def test_without_later_packets_it_is_the_arrival() -> None:
    batch = packets(INFO, [(0, 5.0)])
    assert first_frame_wall(batch[0], batch, BASE, 99.0, 5.0) == 99.0
    assert first_frame_wall(packets(INFO, [(None, 5.0)])[0], batch, BASE, 99.0, 5.0) == 99.0


def test_packets_past_a_timestamp_jump_or_of_another_connection_say_nothing() -> None:
    other = StreamInfo(2, "h264", 320, 180, 15.0, None)
    batch = packets(INFO, [(0, 5.0), (FRAME, 5.0 + 1 / 15)])
    batch += packets(INFO, [(FRAME + 60 * 90_000, 5.2)])  # jumped a minute forward
    batch += packets(other, [(0, 5.3)])  # a reconnect, timestamps anew
    assert first_frame_wall(batch[0], batch, BASE, 99.0, 5.0) == pytest.approx(99.0)


def test_later_packets_never_make_it_later() -> None:
    batch = packets(INFO, [(0, 5.0), (FRAME, 5.5), (2 * FRAME, 6.0)])  # read late, later
    assert first_frame_wall(batch[0], batch, BASE, 99.0, 5.0) == 99.0
