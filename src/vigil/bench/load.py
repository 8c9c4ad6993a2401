"""What a benchmark load is, as :mod:`vigil.bench.measure` drives it, and what every run shares.

A load starts its cameras against the simulator, says when they all stream, reports its
figures at the end and stops. Its CPU is this process's, plus that of the helper processes
it names (a reference load's ffmpeg processes).
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from typing import Protocol

import psutil


@dataclass
class LoadFigures:
    """What a load reports at the end of a measurement."""

    dropped: int
    reconnects: int
    fps: list[float]
    stream: str
    segments: int | None = None
    segments_bad: int | None = None
    disk_mb_per_hour: float | None = None
    detect: dict[str, object] | None = None


class Load(Protocol):
    def start(self) -> None: ...

    def ready(self) -> bool: ...

    def processes(self) -> list[psutil.Process]:
        """Helper processes whose CPU counts as the load's (ffmpeg, for the floors)."""
        ...

    def figures(self) -> LoadFigures: ...

    def stop(self) -> None: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def progress(label: str, done: float, total: float) -> None:
    """A progress bar on stderr: the table or JSON on stdout stays clean."""
    filled = int(30 * min(done, total) / total) if total else 30
    sys.stderr.write(
        f"\r{label:>9}: [{'#' * filled}{'.' * (30 - filled)}] {done:5.1f}/{total:.0f} s"
    )
    sys.stderr.flush()


def cpu_seconds(proc: psutil.Process, helpers: list[psutil.Process] | None = None) -> float:
    """CPU seconds of `proc`, plus those of its `helpers` (the ffmpeg processes of a load)."""
    total = 0.0
    for each in [proc, *(helpers or [])]:
        times = each.cpu_times()
        total += float(times.user + times.system)
    return total
