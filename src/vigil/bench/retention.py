"""``vigil bench --profile retention``: what a retention run costs as the index grows.

Retention runs every minute over the recordings index. This builds a real SQLite index in a
temporary folder holding ``--cameras`` cameras times ``--days`` days of ``--segment-seconds``
segments, none old or large enough to delete (the steady state: a run that finds nothing
to do), with every rule switched on: a per-camera ``retention_days`` and ``max_size_gb``,
an overall ``max_size_gb`` and ``min_free_gb``. It then times ``Retention.run_once`` (thread
CPU, the median of five runs) and reports it as % of one core at one run a minute.

Nothing here uses the network or a camera; it runs in seconds up to a few million rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from vigil.config import validate_data
from vigil.recording.retention import Retention
from vigil.storage.index import Index
from vigil.storage.schema import segments

RUNS = 5
SEGMENT_BYTES = 30_000_000  # a 60 s 1080p30 segment at 4 Mbit/s
CHUNK = 50_000  # rows per insert


def build_index(path: Path, cameras: int, days: float, segment_seconds: float) -> int:
    """An index of `cameras` x `days` of footage ending now; the number of rows."""
    index = Index(path)
    now = time.time()
    per_camera = int(days * 86_400 / segment_seconds)
    rows = []
    total = 0
    for n in range(per_camera):
        start = now - (per_camera - n) * segment_seconds
        for cam in range(cameras):
            rows.append(
                {
                    "camera": f"cam{cam + 1}",
                    "start": start,
                    "end": start + segment_seconds,
                    "duration": segment_seconds,
                    "bytes": SEGMENT_BYTES,
                    "codec": "h264",
                    "has_event": n % 10 == 0,
                    "keep": False,
                    "path": f"recordings/cam{cam + 1}/{n}.mp4",
                }
            )
            if len(rows) == CHUNK:
                total += _insert(index, rows)
    total += _insert(index, rows)
    index.close()
    return total


def _insert(index: Index, rows: list[dict[str, object]]) -> int:
    count = len(rows)
    if rows:
        with index.engine.begin() as conn:
            conn.execute(insert(segments), rows)
        rows.clear()
    return count


def measure(cameras: int, days: float, segment_seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-retention-") as folder:
        root = Path(folder)
        rows = build_index(root / "vigil.db", cameras, days, segment_seconds)
        config = validate_data(
            {
                "storage": {
                    "path": str(root),
                    "retention": {
                        "days": days + 30,
                        "events_days": days + 60,
                        "max_size_gb": 1e9,
                        "min_free_gb": 0,
                    },
                },
                "cameras": {
                    f"cam{n + 1}": {
                        "inputs": [{"url": f"rtsp://sim/cam{n + 1}"}],
                        "record": {"retention_days": days + 10, "max_size_gb": 1e7},
                    }
                    for n in range(cameras)
                },
            }
        )
        index = Index(root / "vigil.db")
        retention = Retention(root, index, config, free_space=lambda _path: 10**15)
        times = []
        for _ in range(RUNS):
            started = time.thread_time()
            deleted = retention.run_once()
            times.append(time.thread_time() - started)
            if deleted.total:
                raise RuntimeError("the bench's index should hold nothing to delete")
        index.close()
    median = statistics.median(times)
    return {
        "profile": "retention",
        "cameras": cameras,
        "days": days,
        "segment_seconds": segment_seconds,
        "rows": rows,
        "run_cpu_ms_median": round(median * 1000, 1),
        "run_cpu_ms_all": [round(t * 1000, 1) for t in times],
        "pct_of_one_core_at_one_run_a_minute": round(median / 60 * 100, 3),
    }


def run_retention_bench(
    cameras: int, days: float, segment_seconds: float, as_json: bool = False
) -> int:
    result = measure(cameras, days, segment_seconds)
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:<38} {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run from a file path too, so older code can be measured the same way."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--segment-seconds", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    return run_retention_bench(args.cameras, args.days, args.segment_seconds, args.json)


if __name__ == "__main__":
    sys.exit(main())
