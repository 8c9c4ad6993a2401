"""``vigil bench --profile auth``: what the access check costs a request.

One real server (uvicorn, on loopback) serves two apps side by side, measured in alternating
rounds in the same run: one with auth off (the floor) and one with auth on. Each round times
keep-alive requests from one client connection:

- ``GET /api/cameras`` with no credentials (auth off) and with a session cookie;
- ``GET /api/cameras/{name}/snapshot.jpg`` of a stopped camera (the route answers 503 at
  once, so the time is the request and its check) with no credentials, and with cached
  Basic credentials.

It prints the median time per request of each, and the differences. Then the time to log
one line that holds a 32 KB URL through vigil's redaction (``redact_32k_ms``): the audit
found the old pattern quadratic, 0.66 s a line.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vigil.bench.options import BenchOptions

PASSWORD = "bench password"  # noqa: S105 (a throwaway user of a throwaway database)
ROUNDS = 10


@contextmanager
def _serving(access_on: bool, folder: Path) -> Iterator[int]:
    import uvicorn

    from vigil.api import create_app
    from vigil.auth import Access, UserRole
    from vigil.auth.store import AuthStore
    from vigil.camera.manager import CameraManager
    from vigil.config import validate_data
    from vigil.storage.index import Index

    config = validate_data(
        {"cameras": {"cam": {"enabled": False, "inputs": [{"url": "rtsp://127.0.0.1:1/x"}]}}}
    )
    access = None
    if access_on:
        access = Access(AuthStore(Index(folder / "vigil.db").engine))
        access.add_user("bench", UserRole.VIEWER, ["*"], PASSWORD)
    app = create_app(CameraManager(config.cameras), access=access)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    from vigil.api.protocol import http_options

    server_config = uvicorn.Config(app, host="127.0.0.1", port=port, **http_options())
    server = uvicorn.Server(server_config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _timed(port: int, path: str, headers: dict[str, str], count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
        times.append(time.perf_counter() - started)
    conn.close()
    return times


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = json.dumps({"username": "bench", "password": PASSWORD})
    conn.request("POST", "/api/auth/login", body, {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    cookie = response.getheader("set-cookie") or ""
    return cookie.split(";", 1)[0]


def _redaction_ms(count: int = 50) -> float:
    """Median ms to pass one record with a 32 KB URL through vigil's redaction filter."""
    import logging

    from vigil.log import RedactFilter

    redact = RedactFilter()
    url = "rtsp://admin:secret@" + "a" * 32_000
    times = []
    for _ in range(count):
        record = logging.LogRecord("vigil.bench", logging.WARNING, "", 0, "open %s", (url,), None)
        started = time.perf_counter()
        redact.filter(record)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def run(o: BenchOptions) -> int:
    count = max(100, int(o.seconds * 20))
    basic = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    results: dict[str, list[float]] = {
        k: [] for k in ("list", "list+session", "snap", "snap+basic")
    }
    with (
        tempfile.TemporaryDirectory() as folder,
        _serving(False, Path(folder)) as off,
        _serving(True, Path(folder)) as on,
    ):
        cookie = _login(on)
        for _ in range(ROUNDS):  # alternating, so drift hits both alike
            results["list"] += _timed(off, "/api/cameras", {}, count)
            results["list+session"] += _timed(on, "/api/cameras", {"cookie": cookie}, count)
            results["snap"] += _timed(off, "/api/cameras/cam/snapshot.jpg", {}, count)
            results["snap+basic"] += _timed(
                on, "/api/cameras/cam/snapshot.jpg", {"authorization": basic}, count
            )
    ms = {k: statistics.median(v) * 1000 for k, v in results.items()}
    out = {
        **{f"{k}_ms": round(v, 3) for k, v in ms.items()},
        "session_extra_ms": round(ms["list+session"] - ms["list"], 3),
        "basic_extra_ms": round(ms["snap+basic"] - ms["snap"], 3),
        "requests_each": count * ROUNDS,
        "redact_32k_ms": round(_redaction_ms(), 3),
    }
    if o.as_json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:24} {value}")
    return 0
