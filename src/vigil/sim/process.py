"""The simulator in a process of its own, as ``vigil demo`` and ``vigil bench`` run it.

A process apart, so that its CPU is never counted as vigil's, and so that a benchmark's
figures are the server's alone.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

READY_TIMEOUT = 600.0  # seconds; the first start encodes the 1080p media (then it is cached)


def command(
    port: int, http_port: int, cameras: int, extra: Sequence[str] = (), log_level: str = "WARNING"
) -> list[str]:
    """``vigil sim`` with these ports and cameras, run by this interpreter."""
    return [
        sys.executable,
        "-m",
        "vigil.cli",
        "--log-level",
        log_level,
        "sim",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--cameras",
        str(cameras),
        *extra,
    ]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    """Wait until something listens on `port`; SystemExit if `proc` ends or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"vigil sim exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"vigil sim did not listen on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def running(
    port: int,
    cameras: int,
    extra: Sequence[str] = (),
    *,
    http_port: int = 0,
    quiet: bool = True,
    timeout: float = READY_TIMEOUT,
) -> Iterator[subprocess.Popen[bytes]]:
    """The simulator serving `cameras` on `port` until the block ends (then terminated).

    `quiet` keeps its output and INFO log off the terminal (a benchmark's table stays
    readable); `http_port` 0 turns its HTTP port off."""
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        command(port, http_port, cameras, extra, "WARNING" if quiet else "INFO"),
        stdout=subprocess.DEVNULL if quiet else None,
    )
    try:
        wait_for_port(port, timeout, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
