"""``vigil run`` as a process of its own, for the profiles that kill it or watch it for long
(chaos, soak): its config file written from a dict, started, killed, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from vigil.bench.load import free_port

START_TIMEOUT = 60.0  # seconds for ``vigil run`` to listen


class Instance:
    """One vigil server on a free port, its storage in `root`; started again after a kill."""

    def __init__(
        self,
        root: Path,
        cameras: dict[str, dict[str, object]],
        storage: dict[str, object] | None = None,
        server: dict[str, object] | None = None,
        auth: dict[str, object] | None = None,
    ):
        """`storage`: keys of the config's storage section; its path is `root`/data unless
        given. `server` and `auth`: more keys of those sections. The config file and the log
        stay in `root`."""
        self.root = root
        self.port = free_port()
        self.config = root / "vigil.yaml"
        section = {"path": str(root / "data"), **(storage or {})}
        self.data = Path(str(section["path"]))
        data = {
            "server": {"host": "127.0.0.1", "port": self.port, **(server or {})},
            "storage": section,
            "cameras": cameras,
        }
        if auth is not None:
            data["auth"] = auth
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps(data, indent=2))  # JSON is YAML
        self.log = root / "vigil.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        """Start ``vigil run`` (its log appended to `log`) and wait until it listens."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our interpreter, our module, our file
                [sys.executable, "-m", "vigil.cli", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _listens(self.port):
            if self.proc.poll() is not None:
                raise SystemExit(f"vigil run exited with {self.proc.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"vigil run did not listen within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9, as a crash or a power cut ends it."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait, as a service manager stops it; kill -9 if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
