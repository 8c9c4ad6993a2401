"""``vigil run`` with ``server.workers: 2``: the real server process and its spawned
workers, the real simulator over RTSP, and real SIGKILLs of a worker and of the main
process."""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx2 as httpx
import psutil
import pytest

from tests.helpers import SMALL, SimThread, wait_for
from tests.streaming.webrtc_client import Viewer
from vigil.bench.instance import Instance
from vigil.recording.recovery import reconcile
from vigil.sim.server import build_cameras
from vigil.storage.index import Index

PART_HEAD = re.compile(rb"Content-Length: (\d+)\r\n\r\n")
BOUND = 40.0  # seconds: a worker's restart plus the reconnect, on a loaded runner


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(build_cameras(2, SMALL, None, quiet=True)) as served:
        yield served


@pytest.fixture
def vigil(sim: SimThread, tmp_path: Path) -> Iterator[Instance]:
    cams: dict[str, dict[str, object]] = {
        name: {
            "inputs": [{"url": sim.url(name)}],
            "record": {"segment_seconds": 2},
            "detect": {"enabled": name == "cam1"},
            "live": {"webrtc_max_sessions": 1},
        }
        for name in ("cam1", "cam2")
    }
    instance = Instance(tmp_path, cams, server={"workers": 2}, auth={"enabled": False})
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def get(vigil: Instance, path: str) -> Any:
    return httpx.get(vigil.url + path, timeout=10).json()


def decodes(jpeg: bytes) -> bool:
    with av.open(io.BytesIO(jpeg), "r", format="mjpeg") as container:
        return sum(1 for _ in container.decode(video=0)) == 1


def mjpeg_parts(stream: httpx.Response, count: int) -> list[bytes]:
    """The first `count` JPEGs of a multipart/x-mixed-replace stream, by Content-Length."""
    buffer, parts = b"", []
    for chunk in stream.iter_bytes():
        buffer += chunk
        while (match := PART_HEAD.search(buffer)) and len(buffer) >= match.end() + int(match[1]):
            parts.append(buffer[match.end() : match.end() + int(match[1])])
            buffer = buffer[match.end() + int(match[1]) :]
            if len(parts) == count:
                return parts
    return parts


def streaming(vigil: Instance) -> bool:
    cams = get(vigil, "/api/cameras")["cameras"]
    return len(cams) == 2 and all(c["state"] == "streaming" for c in cams)


def test_a_server_with_two_workers_records_and_outlives_a_killed_worker(vigil: Instance) -> None:
    wait_for(lambda: streaming(vigil), BOUND, "both cameras streaming")
    system = wait_for(
        lambda: (
            (s := get(vigil, "/api/system"))["workers"]
            and all(w["cpu_seconds"] > 0 for w in s["workers"])
            and s
        ),
        BOUND,
        "both workers reporting",
    )
    workers = system["workers"]
    assert [w["number"] for w in workers] == [0, 1]
    assert sorted(c for w in workers for c in w["cameras"]) == ["cam1", "cam2"]
    assert all(len(w["cameras"]) == 1 for w in workers)  # one each: spread, not piled
    pids = {w["pid"] for w in workers}
    assert len(pids) == 2 and vigil.pid not in pids
    assert all(psutil.Process(pid).ppid() == vigil.pid for pid in pids)

    # the camera API, metrics and triggers work through the workers
    answer = httpx.post(vigil.url + "/api/cameras/cam2/stop", timeout=10)
    assert answer.status_code == 200 and answer.json()["state"] == "stopped"
    answer = httpx.post(vigil.url + "/api/cameras/cam2/start", timeout=10)
    assert answer.status_code == 200
    wait_for(lambda: streaming(vigil), BOUND, "cam2 streaming again")
    event = httpx.post(vigil.url + "/api/cameras/cam1/events", timeout=10)
    assert event.status_code == 202 and event.json()["camera"] == "cam1"
    metrics = httpx.get(vigil.url + "/metrics", timeout=10).text
    assert "vigil_worker_deaths_total 0" in metrics
    assert 'vigil_worker_resident_memory_bytes{worker="1"}' in metrics
    assert 'vigil_camera_recorded_bytes_total{camera="cam1"}' in metrics
    # live view crosses from the workers: a snapshot of a detecting camera (its last decoded
    # frame) and of one that decodes nothing (a frame decoded on demand), and MJPEG
    for name in ("cam1", "cam2"):
        snapshot = httpx.get(vigil.url + f"/api/cameras/{name}/snapshot.jpg", timeout=20)
        assert snapshot.status_code == 200, snapshot.text
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert decodes(snapshot.content)
    with httpx.stream("GET", vigil.url + "/api/cameras/cam2/mjpeg", timeout=20) as stream:
        parts = mjpeg_parts(stream, 3)
    assert len(parts) == 3 and all(decodes(p) for p in parts)
    # an offer the worker can't answer comes back with the worker's code, and nothing is held
    offer = httpx.post(
        vigil.url + "/api/cameras/cam1/webrtc",
        content=b"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
        headers={"Content-Type": "application/sdp"},
        timeout=40,
    )
    assert offer.status_code == 400 and offer.json()["code"] == "E505"
    assert get(vigil, "/api/cameras/cam1")["viewers"] == 0

    victim = workers[0]
    os.kill(victim["pid"], 9)
    system = wait_for(
        lambda: (
            (s := get(vigil, "/api/system"))["worker_deaths"] == 1
            and s["workers"][0]["restarts"] == 1
            and s["workers"][0]["pid"] != victim["pid"]
            and s
        ),
        BOUND,
        "the killed worker started again",
    )
    assert system["workers"][1]["pid"] == workers[1]["pid"]  # the other one untouched
    wait_for(lambda: streaming(vigil), BOUND, "the killed worker's camera streaming again")
    assert "vigil_worker_deaths_total 1" in httpx.get(vigil.url + "/metrics", timeout=10).text
    assert "[E701] worker 0" in vigil.log.read_text()


def rebalance_cli(vigil: Instance) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", "workers", "rebalance", "--config", str(vigil.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_vigil_workers_rebalance_moves_a_camera_to_the_idle_worker(
    vigil: Instance, sim: SimThread
) -> None:
    """cam3 joins worker 0 (a tie goes to the lowest number), cam2 leaves worker 1 idle:
    the CLI asks the running server to rebalance, and one of worker 0's cameras moves."""
    wait_for(lambda: streaming(vigil), BOUND, "both cameras streaming")
    assert rebalance_cli(vigil).stdout.endswith("0 camera(s) moved; 2 worker(s)\n")
    body = {"name": "cam3", "inputs": [{"url": sim.url("cam2")}]}  # the sim has two
    assert httpx.post(vigil.url + "/api/cameras", json=body, timeout=20).status_code == 201
    assert httpx.delete(vigil.url + "/api/cameras/cam2", timeout=20).status_code == 204
    held = {w["number"]: w["cameras"] for w in get(vigil, "/api/system")["workers"]}
    assert sorted(held[0] + held[1]) == ["cam1", "cam3"] and not all(held.values())
    done = rebalance_cli(vigil)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"cam[13]: worker \d -> \d\n1 camera\(s\) moved; 2 worker\(s\)\n", done.stdout
    )
    workers = get(vigil, "/api/system")["workers"]
    assert [len(w["cameras"]) for w in workers] == [1, 1]
    wait_for(
        lambda: all(c["state"] == "streaming" for c in get(vigil, "/api/cameras")["cameras"]),
        BOUND,
        "both cameras streaming after the move",
    )
    assert re.search(r"rebalanced: cam[13] 0->1\n", vigil.log.read_text())


def udp_ports(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="udp")}


def test_webrtc_media_leaves_from_the_cameras_worker(vigil: Instance) -> None:
    """Signalling through the main process, the session and its socket in the worker."""
    wait_for(lambda: streaming(vigil), BOUND, "both cameras streaming")
    system = wait_for(
        lambda: len((s := get(vigil, "/api/system"))["workers"]) == 2 and s, BOUND, "workers"
    )
    holder = next(w["pid"] for w in system["workers"] if "cam1" in w["cameras"])
    other = next(w["pid"] for w in system["workers"] if "cam1" not in w["cameras"])
    before = {pid: udp_ports(pid) for pid in (vigil.pid, holder, other)}

    async def scenario() -> None:
        viewer = Viewer()
        response = await viewer.connect(vigil.url + "/api/cameras/cam1/webrtc")
        assert response.status_code == 201, response.text
        assert "H264" in response.text and "VP8" not in response.text
        assert viewer.location.startswith("/api/cameras/cam1/webrtc/")
        await viewer.wait_frames(15, BOUND)
        assert {(f.width, f.height) for f in viewer.frames} == {(320, 180)}
        # the media socket is the worker's: nothing new in the main process or the other
        assert udp_ports(holder) - before[holder]
        assert udp_ports(vigil.pid) == before[vigil.pid]
        assert udp_ports(other) == before[other]
        wait_for(lambda: get(vigil, "/api/cameras/cam1")["viewers"] == 1, BOUND, "one viewer")
        # the camera's cap is counted where its sessions are: a second viewer is refused
        second = Viewer()
        refused = await second.connect(vigil.url + "/api/cameras/cam1/webrtc")
        assert refused.status_code == 503 and refused.json()["code"] == "E504"
        await second.pc.close()
        async with httpx.AsyncClient(timeout=40) as client:
            ended = await client.delete(vigil.url + viewer.location)
            assert ended.status_code == 204
            again = await client.delete(vigil.url + viewer.location)
            assert again.status_code == 404 and again.json()["code"] == "E604"
        await viewer.pc.close()

    asyncio.run(scenario())
    wait_for(lambda: get(vigil, "/api/cameras/cam1")["viewers"] == 0, BOUND, "no viewer")
    wait_for(lambda: udp_ports(holder) == before[holder], BOUND, "the worker's socket closed")


def test_a_killed_main_process_takes_its_workers_with_it(vigil: Instance) -> None:
    wait_for(lambda: streaming(vigil), BOUND, "both cameras streaming")
    system = wait_for(
        lambda: len((s := get(vigil, "/api/system"))["workers"]) == 2 and s, BOUND, "workers"
    )
    pids = [w["pid"] for w in system["workers"]]
    vigil.kill()
    # the workers see their channel end, close their segments and exit: no orphan records on
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), BOUND, "the workers gone")
    # they held the instance lock until then, and closed every segment whole
    index = Index(vigil.data / "vigil.db")
    try:
        result = reconcile(vigil.data, index)
    finally:
        index.close()
    assert result.recovered == 0  # nothing was left partial for a recovery to cut
    assert result.quarantined == 0 and result.missing == 0
    vigil.start()
    wait_for(lambda: streaming(vigil), BOUND, "both cameras streaming after the restart")
