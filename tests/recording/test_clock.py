"""StreamClock: packets' wall times from their timestamps, free of read jitter."""

from __future__ import annotations

import pytest

from vigil.media.clock import StreamClock


def test_late_arrivals_do_not_move_the_timeline() -> None:
    clock = StreamClock()
    base = 1_000.0
    for n in range(30):
        clock.observe(base + n / 15, n / 15)  # on time
    # a key frame read 0.5 s late, then frames in a rush: their wall times stay true
    assert clock.observe(base + 2.0 + 0.5, 2.0) == pytest.approx(base + 2.0)
    assert clock.observe(base + 2.5, 2.0 + 1 / 15) == pytest.approx(base + 2.0 + 1 / 15)
    assert clock.wall(10.0) == pytest.approx(base + 10.0)


def test_first_packets_late_then_on_time_corrects_the_anchor() -> None:
    clock = StreamClock()
    assert clock.observe(100.7, 0.0) == 100.7  # nothing better known yet
    assert clock.observe(100.2, 0.1) == pytest.approx(100.2)  # less delayed
    assert clock.wall(0.0) == pytest.approx(100.1)


def test_timestamps_going_back_start_a_new_timeline() -> None:
    clock = StreamClock()
    clock.observe(50.0, 10.0)
    assert clock.observe(51.0, 1.0) == 51.0  # the old anchor would say 41


def test_drift_is_followed_within_two_windows() -> None:
    clock = StreamClock(window=10.0)
    clock.observe(0.0, 0.0)  # an anchor that drift will make stale
    for n in range(1, 301):  # 30 s of a camera whose clock now runs 0.2 s behind
        wall = clock.observe(n / 10 + 0.2, n / 10)
    assert abs(wall - (30.0 + 0.2)) < 1e-9


def test_no_anchor_before_any_packet() -> None:
    assert StreamClock().wall(1.0) is None
