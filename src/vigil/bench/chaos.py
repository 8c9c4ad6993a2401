"""``vigil bench --profile chaos``: kill -9 at random moments while cameras record.

``vigil run`` records ``--cameras`` simulated cameras. At a random moment of a segment it is
killed with SIGKILL and started again, ``--kills`` times. After each restart, once every
camera records again, the footage from before the kill is checked:

- the index matches the disk: every row's file is there and every segment file has a row;
- every file decodes, and no camera's segments overlap;
- footage lost: from the end of a camera's last footage before the kill to the kill;
- back after: from the kill to the start of its first footage after (the restart, its
  recovery and the reconnect).

The random moments come from ``--seed``; the run prints the one it used.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from vigil.bench.instance import Instance
from vigil.bench.load import free_port
from vigil.bench.options import BenchOptions
from vigil.recording.naming import QUARANTINE, RECORDINGS, start_of
from vigil.recording.segment import PARTIAL_SUFFIX
from vigil.sim import process as simulator

RESUME_TIMEOUT = 90.0  # seconds for every camera to record again after a restart
OVERLAP_TOLERANCE = 0.001  # seconds: the rounding of a start chained from the one before


@dataclass
class KillFigures:
    """What one kill cost, and what the restart found, checked."""

    at: float  # seconds into the run
    lost: dict[str, float]  # camera -> seconds of footage lost before the kill
    back_after: dict[str, float]  # camera -> seconds from the kill to its next footage
    segments: int  # segments from before the kill, checked
    rows_without_file: list[str] = field(default_factory=list)
    files_without_row: list[str] = field(default_factory=list)
    partials_left: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)  # rows starting before one ends
    quarantined: int = 0  # files in quarantine/ (footage recovery gave up on)

    @property
    def whole(self) -> bool:
        found = (self.rows_without_file, self.files_without_row, self.partials_left)
        return not any((*found, self.undecodable, self.overlapping, self.quarantined))


@dataclass
class ChaosResult:
    cameras: int
    seed: int
    kills: list[KillFigures]

    @property
    def lost_max(self) -> float:
        return max((s for k in self.kills for s in k.lost.values()), default=0.0)

    @property
    def back_after_max(self) -> float:
        return max((s for k in self.kills for s in k.back_after.values()), default=0.0)


def kill_loop(
    cams: dict[str, dict[str, object]],
    kills: int,
    root: Path,
    *,
    segment_seconds: float,
    seed: int,
    report: Callable[[int, KillFigures], None] | None = None,
) -> list[KillFigures]:
    """Run vigil on `cams` with its storage in `root` and kill -9 it `kills` times."""
    rng = random.Random(seed)
    vigil = Instance(root, cams)
    names = list(cams)
    t0 = time.time()
    figures: list[KillFigures] = []
    decoded: set[str] = set()  # files checked after an earlier kill: left as they were
    vigil.start()
    try:
        for n in range(kills):
            _wait(lambda: _recording(vigil.data, names), RESUME_TIMEOUT, "every camera recording")
            time.sleep(rng.uniform(0.0, segment_seconds))  # a random moment of the segment
            killed = time.time()
            vigil.kill()
            vigil.start()
            _wait(functools.partial(_back, vigil.data, names, killed), RESUME_TIMEOUT, "footage")
            figures.append(check(vigil.data, names, killed, killed - t0, decoded))
            if report:
                report(n + 1, figures[-1])
    finally:
        vigil.stop()
    return figures


def check(
    data: Path, names: list[str], killed: float, at: float, decoded: set[str] | None = None
) -> KillFigures:
    """The footage from before the kill at `killed` (Unix time), as the restart left it.
    Files in `decoded` are not decoded again (it gets those decoded now)."""
    decoded = set() if decoded is None else decoded
    rows = _rows(data)
    before = [r for r in rows if r[1] < killed]
    after = [r for r in rows if r[1] >= killed]
    lost = {c: round(killed - max(e for cam, _, e, _ in before if cam == c), 2) for c in names}
    back = {c: round(min(s for cam, s, _, _ in after if cam == c) - killed, 2) for c in names}
    result = KillFigures(at=round(at, 1), lost=lost, back_after=back, segments=len(before))
    indexed = {path for *_, path in rows}
    for *_, path in before:
        file = data / path
        if not file.exists():
            result.rows_without_file.append(path)
        elif path in decoded:
            continue
        elif not _decodes(file):
            result.undecodable.append(path)
        else:
            decoded.add(path)
    for file in (data / RECORDINGS).rglob("*"):
        start = start_of(file)
        if start is None or start > killed or not file.is_file():
            continue  # not a segment, or one of the new instance's
        relative = file.relative_to(data).as_posix()
        if file.name.endswith(PARTIAL_SUFFIX):
            result.partials_left.append(relative)
        elif relative not in indexed:
            result.files_without_row.append(relative)
    for camera in names:
        ends = [(start, end, path) for cam, start, end, path in rows if cam == camera]
        for (_, end, _), (start, _, path) in itertools.pairwise(ends):
            if start < end - OVERLAP_TOLERANCE:
                result.overlapping.append(path)
    quarantine = data / QUARANTINE
    result.quarantined = sum(1 for f in quarantine.rglob("*") if f.is_file())
    return result


def _rows(data: Path) -> list[tuple[str, float, float, str]]:
    """Every segment row (camera, start, end, path), read without taking vigil's lock."""
    db = sqlite3.connect(f"file:{data / 'vigil.db'}?mode=ro", uri=True, timeout=10)
    try:
        query = "SELECT camera, start, end, path FROM segments ORDER BY start"
        return [(str(c), float(s), float(e), str(p)) for c, s, e, p in db.execute(query)]
    finally:
        db.close()


def _recording(data: Path, names: list[str]) -> bool:
    """Every camera has a segment open."""
    return all(next((data / RECORDINGS / c).rglob(f"*{PARTIAL_SUFFIX}"), None) for c in names)


def _back(data: Path, names: list[str], killed: float) -> bool:
    """Every camera has a segment indexed that started after the kill."""
    if not (data / "vigil.db").exists():
        return False
    started = {cam for cam, start, _, _ in _rows(data) if start >= killed}
    return started >= set(names)


def _decodes(path: Path) -> bool:
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0)) > 0
    except av.FFmpegError:
        return False


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"chaos: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def run(o: BenchOptions) -> int:
    """The chaos profile: kill -9 ``--kills`` times; a line per kill, then the worst."""
    from vigil.bench.loads import camera_configs

    seed = o.seed if o.seed is not None else random.SystemRandom().randrange(2**31)
    port = free_port()
    cams = camera_configs("detect", o.cameras, port, o.segment_seconds, None, o.detect)

    def line(n: int, k: KillFigures) -> None:
        sys.stderr.write(
            f"kill {n:>2}/{o.kills} at {k.at:6.1f} s: lost up to {max(k.lost.values()):.2f} s, "
            f"back after {max(k.back_after.values()):.2f} s, {k.segments} segments checked"
            f"{'' if k.whole else ' -- NOT WHOLE'}\n"
        )

    with simulator.running(port, o.cameras, o.sim_args), tempfile.TemporaryDirectory() as tmp:
        kills = kill_loop(
            cams, o.kills, Path(tmp), segment_seconds=o.segment_seconds, seed=seed, report=line
        )
    result = ChaosResult(o.cameras, seed, kills)
    if o.as_json:
        out = asdict(result) | {
            "lost_max": result.lost_max,
            "back_after_max": result.back_after_max,
            "whole": all(k.whole for k in kills),
        }
        print(json.dumps(out, indent=2))
    else:
        print(f"cameras {o.cameras}, kills {len(kills)}, seed {seed}")
        print(f"footage lost per kill, worst camera: {result.lost_max:.2f} s")
        print(f"back after a kill, worst camera:     {result.back_after_max:.2f} s")
        bad = [n + 1 for n, k in enumerate(kills) if not k.whole]
        print(f"index and disk match, every file decodes: {'yes' if not bad else f'no: {bad}'}")
    return 0 if all(k.whole for k in kills) else 1
