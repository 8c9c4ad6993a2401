"""`vigil demo`: four simulated cameras streaming, and the media cached for the next start."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import free_port, wait_for


def _login_link(log: Path) -> str | None:
    """The one-time login link the demo prints to stderr at every start."""
    found = re.search(r"log in once at (\S+)", log.read_text())
    return found.group(1) if found else None


def _open(browser: urllib.request.OpenerDirector, url: str) -> str | None:
    """Where `url` lands, or None while the server isn't listening yet (the link is printed
    before it is)."""
    try:
        with browser.open(url, timeout=10) as page:
            return str(page.url)
    except OSError:
        return None


def _streaming(port: int, browser: urllib.request.OpenerDirector) -> bool:
    try:
        with browser.open(f"http://127.0.0.1:{port}/api/cameras", timeout=2) as r:
            cams = json.loads(r.read())["cameras"]
    except OSError:
        return False
    return len(cams) == 4 and all(c["state"] == "streaming" for c in cams)


def _run_demo(tmp_path: Path, cache: Path) -> float:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "vigil.cli",
        "demo",
        "--port",
        str(port),
        "--sim-port",
        str(free_port()),
        "--sim-http-port",
        str(free_port()),
        "--data",
        str(tmp_path / "data"),
    ]
    env = {**os.environ, "VIGIL_CACHE": str(cache)}
    t0 = time.monotonic()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=out)
    try:
        link = wait_for(lambda: _login_link(log), 60, "the demo's login link")
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        landed = wait_for(lambda: _open(browser, link), 60, "the login link to open")
        assert landed.endswith("/")  # a session, then the page
        wait_for(lambda: _streaming(port, browser), 60, "4 streaming demo cameras")
        elapsed = time.monotonic() - t0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return elapsed


def test_demo_streams_four_cameras_and_caches_media(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _run_demo(tmp_path, cache)
    cached = sorted(p.name for p in (cache / "sim").iterdir())
    assert len(cached) == 2 and all(name.endswith(".aus") for name in cached)
    assert any(name.startswith("1920x1080-30-") for name in cached)
    assert any(name.startswith("640x360-15-") for name in cached)
    written = {p.name: p.stat().st_mtime_ns for p in (cache / "sim").iterdir()}
    second = _run_demo(tmp_path, cache)
    assert {p.name: p.stat().st_mtime_ns for p in (cache / "sim").iterdir()} == written
    assert second < first  # the second start read the cache instead of encoding
    print(f"demo: first start {first:.1f} s (encoding media), cached start {second:.1f} s")
