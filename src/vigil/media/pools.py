"""Shared thread pools, one per priority, for per-frame CPU work (motion, JPEG encoding).

Threads, not processes: numpy and FFmpeg release the GIL for the heavy part, and a frame
handed to a thread costs no copy or pickling. Each pool is bounded (a worker per core).

Priorities: an unprivileged thread can lower its priority (raise its niceness) but never
raise it back, so the analysis pool's threads nice *themselves* once, when they start, with
``setpriority`` on their own thread id (Linux gives every thread its own nice value). The
readers (ingest) and recorders stay at the process's priority: when the machine is short of
CPU, analysis waits and footage does not.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

ANALYSIS_NICE = 5  # added to the process's niceness for analysis threads

T = TypeVar("T")

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def _nice_thread(increment: int) -> None:
    if not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
    except OSError:
        pass  # a platform that refuses: run at the process's priority


def analysis_pool() -> ThreadPoolExecutor:
    """The pool for detection work: niced by :data:`ANALYSIS_NICE`, a worker per core."""
    with _lock:
        pool = _pools.get("analysis")
        if pool is None:
            pool = _pools["analysis"] = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 2,
                thread_name_prefix="vigil-analysis",
                initializer=_nice_thread,
                initargs=(ANALYSIS_NICE,),
            )
        return pool


def timed(job: Callable[[], T]) -> tuple[T, float]:
    """Run `job` and return its result with the CPU seconds it took on this thread, which
    the caller charges to its camera (pool threads are shared, so their /proc figures are
    nobody's)."""
    started = time.thread_time()
    result = job()
    return result, time.thread_time() - started


def run_charged(pool: ThreadPoolExecutor, job: Callable[[], T]) -> tuple[T, float]:
    """Run `job` in `pool`, wait for it, and return (result, CPU seconds it used)."""
    return pool.submit(timed, job).result()
