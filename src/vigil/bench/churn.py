"""``vigil bench --profile churn``: viewers that come and go, by the thousand, leave nothing.

One camera, served by the real app over HTTP, as the live profile lays it out (recording
off; the sub-stream detected, and watched). A child process
(:mod:`vigil.bench.viewers`, ``--cycles``) opens an MJPEG stream, reads its first frame
and closes it, ``--mjpeg-cycles`` times (10,000), a few at once; then connects a WebRTC
viewer (aiortc: offer, answer, ICE, DTLS, a first frame), and closes it,
``--webrtc-cycles`` times (1,000).

The server's file descriptors, threads and RSS are taken after a warm-up (viewers of each
kind come and gone, so that what is made once is made: four MJPEG ones at once, whose
thread-pool workers then stay, idle, until the pool next runs something), after the MJPEG
cycles, and after the WebRTC ones, and at each quarter of each phase, each once the
viewers' sessions have ended. Nothing
leaks when descriptors and threads are back at the baseline (or under it: the pool prunes
idle workers) and RSS has grown by no more than the allocator keeps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import psutil

from vigil.bench.live import live_config, served
from vigil.bench.load import free_port
from vigil.bench.options import BenchOptions
from vigil.camera.cameras import Cameras
from vigil.camera.reader import RETIRE_AFTER
from vigil.sim import process as simulator

SETTLE_TIMEOUT = 60.0  # seconds for the viewers' sessions to end after a phase
PARALLEL = 4  # viewers at once, each cycling
PARTS = 4  # samples along each phase


@dataclass
class Sample:
    """The server process at one moment."""

    when: str
    fds: int
    threads: int
    rss_mb: float


@dataclass
class ChurnResult:
    mjpeg_cycles: int
    webrtc_cycles: int
    failed: dict[str, int]  # cycles that didn't get their first frame, by kind
    seconds: dict[str, float]  # each phase's length
    samples: list[Sample] = field(default_factory=list)

    @property
    def leaked(self) -> dict[str, float]:
        """The last sample over the baseline: descriptors, threads, MB of RSS."""
        base, last = self.samples[0], self.samples[-1]
        return {
            "fds": last.fds - base.fds,
            "threads": last.threads - base.threads,
            "rss_mb": round(last.rss_mb - base.rss_mb, 1),
        }


def _retirements_done() -> None:
    """Wait for the containers of connections that ended before the baseline to be
    closed (camera.reader.retire, 10 s on): each holds a timer thread and its socket until
    then, and must not count in the baseline (seen in a test run after others)."""
    deadline = time.monotonic() + RETIRE_AFTER + SETTLE_TIMEOUT
    while any(t.name == "vigil-retire" and t.is_alive() for t in threading.enumerate()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)


def sample(when: str, baseline: Sample | None = None) -> Sample:
    """The process now; after a phase, once its threads are back to `baseline`'s count or
    SETTLE_TIMEOUT has passed (idle workers of a thread pool end after a few seconds)."""
    me = psutil.Process()
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while baseline is not None and me.num_threads() > baseline.threads:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return Sample(when, me.num_fds(), me.num_threads(), round(me.memory_info().rss / 2**20, 1))


def churn(
    manager: Cameras, url: str, mjpeg: int, webrtc: int, progress: bool = True
) -> ChurnResult:
    """Cycle `mjpeg` and then `webrtc` viewers of camera cam1 at `url` (its API prefix)."""
    result = ChurnResult(mjpeg, webrtc, {}, {})
    # warm-up: a viewer of each kind, PARALLEL MJPEG ones at once (the server's thread pool
    # keeps a worker per stream that ran at once, idle, until it is next used)
    _cycle(manager, url, "mjpeg", PARALLEL, result, progress=False)
    _cycle(manager, url, "webrtc", 1, result, progress=False)
    result.failed.clear()
    result.seconds.clear()
    _retirements_done()
    result.samples.append(sample("baseline"))
    for kind, cycles in (("mjpeg", mjpeg), ("webrtc", webrtc)):
        done = 0
        for part in range(1, PARTS + 1):  # sampled a few times along: a leak shows as a slope
            share = cycles * part // PARTS - done
            _cycle(manager, url, kind, share, result, progress)
            done += share
            label = f"after {done} {'MJPEG' if kind == 'mjpeg' else 'WebRTC'}"
            result.samples.append(sample(label, result.samples[0]))
    return result


def _cycle(
    manager: Cameras, url: str, kind: str, cycles: int, result: ChurnResult, progress: bool
) -> None:
    """`cycles` viewers of `kind` come and go, from a child process; then wait for the
    camera to count none."""
    if cycles <= 0:
        return
    target = f"{url}/{'mjpeg' if kind == 'mjpeg' else 'webrtc'}"
    command = [
        *(sys.executable, "-m", "vigil.bench.viewers", "--url", target, "--kind", kind),
        *("--cycles", str(cycles), "--count", str(PARALLEL if kind == "mjpeg" else 1)),
    ]
    if progress:
        command.append("--progress")
    t0 = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True)  # noqa: S603 - ours
    result.seconds[kind] = round(result.seconds.get(kind, 0.0) + time.monotonic() - t0, 1)
    result.failed[kind] = result.failed.get(kind, 0) + int(json.loads(done.stdout)["failed"])
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while manager.status("cam1").viewers:
        if time.monotonic() > deadline:
            raise SystemExit(f"churn: {kind} viewers still counted {SETTLE_TIMEOUT:.0f} s on")
        time.sleep(0.2)
    time.sleep(1.0)  # what a session's end leaves to the event loop's next turns


def run(o: BenchOptions) -> int:
    """The churn profile; a line per sample, then what leaked."""
    sim_port, http_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}/api/cameras/cam1"
    with (
        simulator.running(sim_port, 1, o.sim_args),
        served(live_config(sim_port, "sub"), http_port) as (manager, _),
    ):
        result = churn(manager, url, o.mjpeg_cycles, o.webrtc_cycles)
    if o.as_json:
        print(json.dumps(asdict(result) | {"leaked": result.leaked}, indent=2))
        return 0
    print(f"{'when':<22} {'fds':>5} {'threads':>7} {'RSS MB':>7}")
    for s in result.samples:
        print(f"{s.when:<22} {s.fds:>5} {s.threads:>7} {s.rss_mb:>7.1f}")
    print(f"failed cycles: {result.failed}; seconds: {result.seconds}")
    leak = result.leaked
    print(f"over the baseline: {leak['fds']} fds, {leak['threads']} threads, {leak['rss_mb']} MB")
    return 0
