"""The watchdog of a camera's consumer threads: a part that stops beating is reported,
counted and replaced once; a cause that blocks its replacement too doesn't pile up threads."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.helpers import wait_for
from vigil.camera.watchdog import PartWatchdog
from vigil.media.failures import Failures
from vigil.media.heartbeat import Heartbeat, blocked_in


class Blocked(threading.Thread):
    """A part stuck in a call until `release` is set."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.heartbeat = Heartbeat()
        self.release = threading.Event()
        self.entered = threading.Event()

    def run(self) -> None:
        self.stuck_here()

    def stuck_here(self) -> None:
        self.entered.set()
        self.release.wait(30)


def test_a_part_that_stops_beating_is_reported_with_where_and_replaced_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watchdog = PartWatchdog(logging.getLogger("vigil.camera.t"), limit=20.0)
    failures = Failures("recorder")
    first = Blocked()
    first.start()
    try:
        at = first.heartbeat.at
        assert not watchdog.check("recorder", first, failures, at + 19.0)
        assert watchdog.check("recorder", first, failures, at + 21.0)  # replace it
        error = watchdog.stalls["recorder"]
        assert error.code == "E414"
        assert "stuck for 21 s" in error.message and "a new one takes over" in error.message
        assert failures.count == 1 and watchdog.counts == {"recorder": 1}
        assert "[E414]" in caplog.text
        # checked again before the supervisor swapped it: not a second replacement
        assert not watchdog.check("recorder", first, failures, at + 22.0)
        assert failures.count == 1
        # its replacement is stuck too while the first still is: reported, not replaced
        second = Blocked()
        second.start()
        try:
            assert not watchdog.check("recorder", second, failures, second.heartbeat.at + 1)
            assert "recorder" not in watchdog.stalls  # a beating part clears the stall
            stuck = watchdog.check("recorder", second, failures, second.heartbeat.at + 25)
            assert not stuck
            assert "not replaced" in watchdog.stalls["recorder"].message
            assert watchdog.abandoned() == [first]
            assert failures.count == 2
        finally:
            second.release.set()
            second.join(5)
    finally:
        first.release.set()
        first.join(5)
    assert watchdog.abandoned() == []


def test_the_report_says_where_the_thread_is_blocked() -> None:
    # outside vigil's own code (this test's thread), the innermost frame: threading's wait
    watchdog = PartWatchdog(logging.getLogger("vigil.camera.t"), limit=1.0)
    part = Blocked()
    part.start()
    try:
        assert part.entered.wait(5)
        wait_for(lambda: "threading.py" in blocked_in(part), 5, "the thread in its wait")
        watchdog.check("detector", part, Failures("detector"), part.heartbeat.at + 5)
        error = watchdog.stalls["detector"]
        assert error.code == "E307"
        assert " in wait (threading.py:" in error.message
    finally:
        part.release.set()
        part.join(5)
