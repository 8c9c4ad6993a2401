"""Clocks: StreamClock (packets' wall times, free of read jitter), and WallClockWatch (steps
of the wall clock)."""

from __future__ import annotations

import pytest

from vigil.media.clock import StreamClock, WallClockWatch


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


class Clocks:
    """A wall clock and a monotonic one, moved by hand."""

    def __init__(self) -> None:
        self.wall_at = 1_800_000_000.0
        self.mono_at = 500.0

    def wall(self) -> float:
        return self.wall_at

    def mono(self) -> float:
        return self.mono_at

    def tick(self, seconds: float, wall_extra: float = 0.0) -> None:
        self.mono_at += seconds
        self.wall_at += seconds + wall_extra


def test_the_wall_clock_watch_sees_steps_back_and_forward_with_their_instant() -> None:
    clocks = Clocks()
    watch = WallClockWatch(clocks.wall, clocks.mono)
    clocks.tick(1.0)
    assert watch.check() is None  # both moved together
    clocks.tick(1.0, wall_extra=-3600.0)  # set back an hour
    step = watch.check()
    assert step is not None
    assert step.seconds == pytest.approx(-3600.0)
    assert step.after == pytest.approx(clocks.wall_at)  # the instant, on the new clock
    assert step.before == pytest.approx(clocks.wall_at + 3600.0)  # and on the old one
    clocks.tick(1.0)
    assert watch.check() is None  # a step is reported once
    clocks.tick(1.0, wall_extra=86400.0 * 365 * 56)  # a clock from 1970 set right at boot
    forward = watch.check()
    assert forward is not None and forward.seconds == pytest.approx(86400.0 * 365 * 56)


def test_slewing_and_a_late_check_are_not_steps() -> None:
    clocks = Clocks()
    watch = WallClockWatch(clocks.wall, clocks.mono)
    for _ in range(10_000):  # NTP's fastest slew, 0.5 ms a second, for almost 3 hours
        clocks.tick(1.0, wall_extra=0.0005)
        assert watch.check() is None
    clocks.tick(30.0)  # a check that came 30 s late: both clocks moved alike
    assert watch.check() is None
