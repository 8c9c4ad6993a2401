"""Priorities: analysis threads nice themselves; readers and `server.nice` as documented."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from vigil.media.pools import ANALYSIS_NICE, analysis_pool, run_charged


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_analysis_threads_run_niced_and_the_caller_does_not() -> None:
    caller = thread_nice()
    niced, _ = run_charged(analysis_pool(), thread_nice)
    assert niced == min(19, caller + ANALYSIS_NICE)
    assert thread_nice() == caller  # the calling (reader-like) thread kept its priority


def test_a_pool_job_is_timed_on_its_own_thread() -> None:
    def spin() -> int:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass
        return 1

    result, seconds = run_charged(analysis_pool(), spin)
    assert result == 1
    assert 0.05 <= seconds < 0.5


def test_server_nice_is_applied_before_threads_start(tmp_path: object) -> None:
    """`vigil run` with server.nice: 7: the process and the threads it starts are at 7."""
    code = (
        "import os, threading, sys\n"
        "from vigil.config import validate_data\n"
        "from vigil import server\n"
        "cfg = validate_data({'server': {'nice': 7}})\n"
        "server.apply_nice(cfg)\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append("
        "os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))\n"
        "t.start(); t.join()\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert out == [str(min(19, base + 7))] * 2
