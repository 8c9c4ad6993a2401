"""``vigil bench --profile idle``: what ``vigil run`` costs while it does nothing.

A real ``vigil run`` (a process of its own, on a free port, with no camera and no client)
with ``--workers`` worker processes, warmed up for ``--warmup`` seconds, then its CPU over
``--seconds``: the main process and every worker, user and system, as % of one core. A
server that sleeps should cost next to nothing; what it costs is its timers (the monitor's
and the workers' reports, once a second) and nothing else.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2 as httpx
import psutil

from vigil.bench.instance import Instance
from vigil.bench.load import cpu_seconds, progress
from vigil.bench.options import BenchOptions


@dataclass
class IdleResult:
    workers: int
    seconds: float
    cpu_pct: float  # % of one core: the main process and its workers
    main_cpu_pct: float
    workers_cpu_pct: float
    rss_mb: float  # summed over the same processes
    wakeups_per_s: float  # context switches of those processes a second (voluntary)


def measure(o: BenchOptions, folder: Path) -> IdleResult:
    server: dict[str, object] = {"workers": o.workers}
    vigil = Instance(folder, {}, server=server, auth={"enabled": False})
    vigil.start()
    try:
        main = psutil.Process(vigil.pid)
        deadline = time.monotonic() + 60
        while not _reported(vigil, o.workers):  # every worker up (its imports are done)
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not report within 60 s")
            time.sleep(0.2)
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < o.warmup:
            progress("warm-up", elapsed, o.warmup)
            time.sleep(0.5)
        workers = main.children()
        procs = [main, *workers]
        switches0 = sum(p.num_ctx_switches().voluntary for p in procs)
        main0, all0, wall0 = cpu_seconds(main), cpu_seconds(main, workers), time.monotonic()
        while (elapsed := time.monotonic() - wall0) < o.seconds:
            progress("measuring", elapsed, o.seconds)
            time.sleep(min(1.0, max(0.0, o.seconds - elapsed)))
        main1, all1, wall1 = cpu_seconds(main), cpu_seconds(main, workers), time.monotonic()
        switches1 = sum(p.num_ctx_switches().voluntary for p in procs)
        rss = sum(p.memory_info().rss for p in procs)
    finally:
        vigil.stop()
    wall = wall1 - wall0
    return IdleResult(
        workers=o.workers,
        seconds=round(wall, 1),
        cpu_pct=round(100 * (all1 - all0) / wall, 3),
        main_cpu_pct=round(100 * (main1 - main0) / wall, 3),
        workers_cpu_pct=round(100 * ((all1 - all0) - (main1 - main0)) / wall, 3),
        rss_mb=round(rss / 2**20, 1),
        wakeups_per_s=round((switches1 - switches0) / wall, 1),
    )


def _reported(vigil: Instance, workers: int) -> bool:
    if workers == 1:
        return True
    found = httpx.get(vigil.url + "/api/system", timeout=10).json()["workers"]
    return len(found) == workers and all(w["rss_bytes"] > 0 for w in found)


def run(o: BenchOptions) -> int:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-idle-") as tmp:
        result = measure(o, Path(tmp))
    print()
    if o.as_json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    for key, value in asdict(result).items():
        print(f"{key:<16} {value}")
    return 0
