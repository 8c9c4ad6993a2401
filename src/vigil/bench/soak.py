"""``vigil bench --profile soak``: ``--minutes`` of a working day, squeezed, with the
server's resources sampled each minute.

``vigil run`` (a process of its own, with auth on: a bench admin and its token) records and
detects ``--cameras`` simulated cameras, laid out as the detect profile (main recorded, sub
detected), while this process, which is not measured, makes its day hard:

- **faults**, from the simulator's control port (in a run of fewer than seven cameras the
  roles below wrap round): cam1 drops every 5 s for the whole run
  (the flap); cam2 sends garbage for 10 s of every 2 minutes; cam3's timestamps jump back
  30 s every 3 minutes;
- **viewers**: MJPEG viewers come and go on cam4 (each to its first frame, four at a time),
  and a grid of snapshots is polled once a second;
- **API changes**: every 30 s a camera is added, replaced or removed, and cam5 is stopped
  or started.

Each minute the server's RSS (and its anonymous part: heap, not mapped files), the blocks
its interpreter holds for Python objects (from ``/metrics``), file descriptors, threads and
database size (with its WAL) are sampled; the first ``WARM_MINUTES`` are left out of the
slopes (caches filling, the first segments). Flat means the least-squares slope per hour
is near nothing next to the figure itself.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx2 as httpx
import psutil

from vigil.bench.instance import Instance
from vigil.bench.load import free_port, progress
from vigil.bench.options import BenchOptions
from vigil.sim import process as simulator

WARM_MINUTES = 2  # left out of the slopes
CHANGE_EVERY = 30.0  # seconds between API changes
MJPEG_AT_ONCE = 4


@dataclass
class Minute:
    minute: int
    rss_mb: float
    anon_mb: float  # RSS less its file-backed and shared pages
    py_kblocks: float  # thousands of blocks held for Python objects
    fds: int
    threads: int
    db_mb: float
    segments: int


@dataclass
class SoakResult:
    cameras: int
    minutes: float
    samples: list[Minute] = field(default_factory=list)
    viewer_cycles: int = 0
    viewer_failures: int = 0
    changes: dict[str, int] = field(default_factory=dict)  # API answers by status
    faults: int = 0

    def slopes(self) -> dict[str, float]:
        """Per hour, by least squares over the samples after the warm-up."""
        kept = [s for s in self.samples if s.minute > WARM_MINUTES]
        out: dict[str, float] = {}
        for key in ("rss_mb", "anon_mb", "py_kblocks", "fds", "threads", "db_mb"):
            points = [(s.minute, float(getattr(s, key))) for s in kept]
            out[f"{key}_per_hour"] = round(60 * _slope(points), 2)
        return out


def _slope(points: list[tuple[int, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _credentials(vigil: Instance) -> str:
    """A bench admin, added before the start, and a token of its: the token."""
    base = [sys.executable, "-m", "vigil.cli", "--log-level", "WARNING"]
    config = ["--config", str(vigil.config)]
    subprocess.run(  # noqa: S603 - our interpreter and module
        [*base, "user", "add", "bench", "--role", "admin", "--password-stdin", *config],
        input="bench soak password\n",
        text=True,
        check=True,
        capture_output=True,
    )
    made = subprocess.run(  # noqa: S603
        [*base, "token", "create", "--user", "bench", *config, "soak"],
        text=True,
        check=True,
        capture_output=True,
    )
    return next(w for w in made.stdout.split() if w.startswith("vgl_"))


class Day:
    """What happens to the server while it is measured: faults, viewers, changes."""

    def __init__(
        self, vigil: Instance, token: str, sim_http: int, sim_port: int, cameras: int, seed: int
    ):
        self.cameras = cameras
        self.api = httpx.Client(
            base_url=vigil.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.sim = httpx.Client(base_url=f"http://127.0.0.1:{sim_http}", timeout=10)
        self.sim_port = sim_port
        self.stop = threading.Event()
        self.rng = random.Random(seed)
        self.cycles = self.failures = self.faults = 0
        self.changes: dict[str, int] = {}
        self._lock = threading.Lock()

    def cam(self, n: int) -> str:
        """Camera n (1-based) of the run, wrapping round in a run of fewer."""
        return f"cam{(n - 1) % self.cameras + 1}"

    def threads(self) -> list[threading.Thread]:
        work = [self._faults, self._changes, self._snapshots]
        work += [self._mjpeg] * MJPEG_AT_ONCE
        return [threading.Thread(target=w, daemon=True) for w in work]

    def _fault(self, cam: str, **faults: object) -> None:
        self.sim.put(f"/api/cameras/{cam}/faults", json=faults).raise_for_status()
        self.faults += 1

    def _faults(self) -> None:
        self._fault(self.cam(1), drop_after=5)
        t0 = time.monotonic()
        garbage_at, jump_at = 120.0, 180.0
        while not self.stop.wait(1.0):
            elapsed = time.monotonic() - t0
            if elapsed >= garbage_at:
                self._fault(self.cam(2), garbage=True)
                self.stop.wait(10.0)
                self._fault(self.cam(2), garbage=False)
                garbage_at += 120.0
            if elapsed >= jump_at:
                self._fault(self.cam(3), jump_back=None)
                self._fault(self.cam(3), jump_back=30)
                jump_at += 180.0

    def _mjpeg(self) -> None:
        marker = b"Content-Type: image/jpeg"
        while not self.stop.is_set():
            ok = False
            try:
                with self.api.stream("GET", f"/api/cameras/{self.cam(4)}/mjpeg") as response:
                    got = b""
                    for chunk in response.iter_bytes():
                        got += chunk
                        if marker in got or len(got) > 1 << 20:
                            break
                    ok = response.status_code == 200 and marker in got
            except httpx.HTTPError:
                pass
            with self._lock:
                self.cycles += 1
                self.failures += not ok

    def _snapshots(self) -> None:
        while not self.stop.wait(1.0):
            for n in (4, 5, 6, 7):
                with contextlib.suppress(httpx.HTTPError):
                    self.api.get(f"/api/cameras/{self.cam(n)}/snapshot.jpg")

    def _changes(self) -> None:
        url = f"rtsp://127.0.0.1:{self.sim_port}/{self.cam(1)}/sub"
        extra = {"inputs": [{"url": url, "roles": ["detect"]}], "record": {"mode": "off"}}
        while not self.stop.wait(CHANGE_EVERY):
            action = self.rng.choice(["add", "replace", "remove", "stop", "start"])
            try:
                if action == "add":
                    r = self.api.post("/api/cameras", json={"name": "soak-extra", **extra})
                elif action == "replace":
                    r = self.api.put("/api/cameras/soak-extra", json=extra)
                elif action == "remove":
                    r = self.api.delete("/api/cameras/soak-extra")
                else:
                    r = self.api.post(f"/api/cameras/{self.cam(5)}/{action}")
            except httpx.HTTPError:
                continue
            key = f"{action} {r.status_code}"
            self.changes[key] = self.changes.get(key, 0) + 1


def _python_blocks(api: httpx.Client) -> float:
    """Thousands of blocks the server holds for Python objects, from its metrics."""
    try:
        text = api.get("/metrics").text
    except httpx.HTTPError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith("vigil_python_allocated_blocks "):
            return round(float(line.split()[1]) / 1000, 1)
    return float("nan")


def _sample(proc: psutil.Process, data: Path, minute: int, api: httpx.Client) -> Minute:
    db = sum(f.stat().st_size for f in data.glob("vigil.db*") if f.is_file())
    segments = sum(1 for _ in (data / "recordings").rglob("*.mp4"))
    mem = proc.memory_info()
    return Minute(
        minute,
        round(mem.rss / 2**20, 1),
        round((mem.rss - mem.shared) / 2**20, 1),
        _python_blocks(api),
        proc.num_fds(),
        proc.num_threads(),
        round(db / 2**20, 2),
        segments,
    )


def soak(o: BenchOptions, root: Path) -> SoakResult:
    from vigil.bench.loads import camera_configs

    sim_port, sim_http = free_port(), free_port()
    cams = camera_configs("detect", o.cameras, sim_port, o.segment_seconds, None, o.detect)
    result = SoakResult(o.cameras, o.minutes)
    with simulator.running(sim_port, o.cameras, o.sim_args, http_port=sim_http):
        vigil = Instance(root, cams)
        token = _credentials(vigil)
        vigil.start()
        day = Day(vigil, token, sim_http, sim_port, o.cameras, o.seed or 0)
        workers = day.threads()
        try:
            proc = psutil.Process(vigil.pid)
            for w in workers:
                w.start()
            t0 = time.monotonic()
            total = o.minutes * 60

            def take() -> None:
                result.samples.append(_sample(proc, vigil.data, len(result.samples) + 1, day.api))

            while (elapsed := time.monotonic() - t0) < total:
                progress("soak", elapsed, total)
                if elapsed >= 60 * (len(result.samples) + 1):
                    take()
                time.sleep(1.0)
            if len(result.samples) < int(total // 60):  # the last whole minute
                take()
            sys.stderr.write("\n")
        finally:
            day.stop.set()
            for w in workers:
                w.join(40)
            vigil.stop()
    result.viewer_cycles, result.viewer_failures = day.cycles, day.failures
    result.changes, result.faults = day.changes, day.faults
    return result


def run(o: BenchOptions) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(o, Path(tmp))
    slopes = result.slopes()
    if o.as_json:
        print(json.dumps(asdict(result) | {"slopes": slopes}, indent=2))
        return 0
    print(f"cameras {result.cameras}, {result.minutes:g} minutes")
    print(
        f"{'minute':>6} {'RSS MB':>7} {'anon MB':>7} {'py kblk':>7} {'fds':>5} {'threads':>7} "
        f"{'DB MB':>6} {'files':>6}"
    )
    for s in result.samples:
        print(
            f"{s.minute:>6} {s.rss_mb:>7.1f} {s.anon_mb:>7.1f} {s.py_kblocks:>7.1f} {s.fds:>5} "
            f"{s.threads:>7} {s.db_mb:>6.2f} {s.segments:>6}"
        )
    print(f"slopes after minute {WARM_MINUTES}: {slopes}")
    print(f"MJPEG viewer cycles {result.viewer_cycles} ({result.viewer_failures} failed)")
    print(f"API changes: {result.changes}; faults set: {result.faults}")
    return 0
