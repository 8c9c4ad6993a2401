"""Where a recorder's segments are finalized and indexed: a thread of the camera's own.

Finalizing a segment fsyncs it and reads its boxes back, and indexing it waits for SQLite's
write lock, which the other processes hold now and then. Measured at 48 cameras on two
workers (docs/benchmarks.md), the finalize took 0.21 s at the median and up to 1.3 s, and
the index write up to 2.9 s. Done on the recorder's thread, that held the packets queued
behind it past ``record.queue_seconds`` at every cut, on every camera at once (cameras
started together cut together), and they were dropped (E415).

So the recorder only finishes the file (its last fragment is written by then, so a kill -9
loses no more than before) and hands it here, and records on. The work is done in order,
one segment after the other, so a camera's index rows still come in time order.

At most :data:`PENDING` closes wait. Past that the recorder waits for the oldest, so a disk
that stalls for good shows as a stuck recorder, as before, not as closes piling up.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

PENDING = 3  # closes that may wait before the recorder waits too


class SegmentCloser:
    """Runs a recorder's closes, in order, on one thread started at the first of them."""

    def __init__(self, name: str, on_error: Callable[[Exception], None]):
        """`on_error`: told what a close raised; the closes after it go on."""
        self.name = name
        self.on_error = on_error
        self._work: deque[Callable[[], None]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._busy = False  # a close is running
        self._ending = False
        self._thread: threading.Thread | None = None
        self.waits = 0  # submits that had to wait for room

    def submit(self, work: Callable[[], None]) -> None:
        """Queue `work`; waits while :data:`PENDING` closes already wait."""
        with self._cond:
            if len(self._work) >= PENDING and not self._ending:
                self.waits += 1
            while len(self._work) >= PENDING and not self._ending:
                self._cond.wait()
            self._work.append(work)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def holding(self) -> threading.Thread | None:
        """The closer's thread while a submit waits for it (where a stall really is)."""
        with self._cond:
            return self._thread if len(self._work) >= PENDING else None

    def pending(self) -> int:
        """Closes submitted and not yet done."""
        with self._cond:
            return len(self._work) + self._busy

    def drain(self) -> None:
        """Wait for every close submitted, then end the thread (the recorder is ending)."""
        with self._cond:
            self._ending = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        # the recorder's callback made a cycle (recorder -> closer -> recorder) that only
        # the cyclic GC would free, and with it the recorder's index and streams' descriptors
        # at a random later moment
        self.on_error = _ignore

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._work and not self._ending:
                    self._cond.wait()
                if not self._work:
                    return
                work = self._work.popleft()
                self._busy = True
                self._cond.notify_all()  # room for a submit that waits
            try:
                work()
            except Exception as err:  # a close must never end the closes after it
                self.on_error(err)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _ignore(err: Exception) -> None:
    """What a drained closer is told of errors: none come."""
