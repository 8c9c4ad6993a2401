"""The main process's link to one worker process: the process, its channel, the thread that
reads it, the commands waiting for an answer, and the worker's last report.

A link is made by :meth:`WorkerLink.spawn` (a spawned process: nothing is inherited but its
arguments, so no lock or thread of the main process is copied into it). Its reader thread
hands every message to the pool, and when the channel ends (the worker exited or died) it
answers the commands still waiting, so that no caller waits for a dead process, and tells
the pool.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from vigil.camera import worker as worker_process
from vigil.camera.cameras import WorkerInfo
from vigil.camera.channel import Action, Command, Reply, Report
from vigil.camera.worker import WorkerSettings

_log = logging.getLogger(__name__)
_SPAWN = multiprocessing.get_context("spawn")
_IDS = itertools.count(1)

RESTART_BACKOFF = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # pause before restart n of a quick crash
STABLE_SECONDS = 60.0  # a worker up this long that dies again starts from the first pause

OnMessage = Callable[["WorkerLink", object], None]
OnGone = Callable[["WorkerLink"], None]


@dataclass
class WorkerLink:
    number: int
    process: BaseProcess
    conn: Connection
    started: float  # time.monotonic() at the spawn
    report: Report | None = None
    pending: dict[int, Future[Reply]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)  # one command at a time
    sending: threading.Lock = field(default_factory=threading.Lock)  # one message at a time
    restarts: int = 0  # of this worker number, before this process
    quick_deaths: int = 0  # deaths in a row, each within STABLE_SECONDS of its start

    @classmethod
    def spawn(cls, settings: WorkerSettings, on_message: OnMessage, on_gone: OnGone) -> WorkerLink:
        ours, theirs = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(
            target=worker_process.run,
            args=(theirs, settings),
            name=f"vigil-worker-{settings.number}",
        )
        process.start()
        theirs.close()  # only the child holds that end now: its death ends our reads
        link = cls(settings.number, process, ours, time.monotonic())
        threading.Thread(
            target=link._read,
            args=(on_message, on_gone),
            name=f"vigil-worker-{settings.number}-reader",
            daemon=True,
        ).start()
        _log.info("worker %d started (pid %s)", settings.number, process.pid)
        return link

    def info(self, cameras: list[str]) -> WorkerInfo:
        """As ``GET /api/system`` shows it, from the last report."""
        report = self.report
        return WorkerInfo(
            number=self.number,
            pid=self.process.pid,
            alive=self.process.is_alive(),
            cameras=cameras,
            cpu_seconds=round(report.cpu_seconds, 2) if report is not None else 0.0,
            rss_bytes=report.rss_bytes if report is not None else 0,
            restarts=self.restarts,
        )

    def how_it_ended(self) -> str:
        code = self.process.exitcode
        return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"

    def pause_before_restart(self) -> float:
        """0 the first time; growing while it keeps dying soon after each start."""
        if time.monotonic() - self.started >= STABLE_SECONDS:
            self.quick_deaths = 0
        pause = RESTART_BACKOFF[min(self.quick_deaths, len(RESTART_BACKOFF) - 1)]
        self.quick_deaths += 1
        return pause

    def succeeded_by(self, fresh: WorkerLink) -> WorkerLink:
        """`fresh`, the same worker number started again, keeping this one's history (and
        its command lock, which callers may be waiting on)."""
        fresh.lock = self.lock
        fresh.restarts = self.restarts + 1
        fresh.quick_deaths = self.quick_deaths
        return fresh

    def post(self, action: Action) -> Future[Reply]:
        """Send `action`; its answer comes in the future. A worker that is dying answers
        nothing: the future then holds an empty reply (the pool's record is applied when the
        worker is back)."""
        future: Future[Reply] = Future()
        command = Command(next(_IDS), action)
        self.pending[command.id] = future
        try:
            with self.sending:
                self.conn.send(command)
        except (OSError, ValueError):
            self.pending.pop(command.id, None)
            future.set_result(Reply(command.id))
        return future

    def _read(self, on_message: OnMessage, on_gone: OnGone) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # a message that doesn't unpickle: a bug, not a death
                _log.exception("[E600] worker %d sent a message that can't be read", self.number)
                continue
            if isinstance(message, Reply):
                future = self.pending.pop(message.id, None)
                if future is not None:
                    future.set_result(message)
                continue
            if isinstance(message, Report):
                self.report = message
            try:
                on_message(self, message)
            except Exception:
                _log.exception("[E600] worker %d: a message's handling failed", self.number)
        self.process.join(5.0)
        for future in list(self.pending.values()):
            future.set_result(Reply(-1))  # nothing will answer it now
        self.pending.clear()
        on_gone(self)
