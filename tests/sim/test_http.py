"""The simulator's HTTP port: snapshots, MJPEG, fault control and the motion ground truth."""

from __future__ import annotations

import io
import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import av
import pytest

from tests.helpers import SimThread
from vigil.sim.http import BOUNDARY, JPEG_SIZE
from vigil.sim.media import MOTION_PERIOD, ClipSpec
from vigil.sim.server import build_cameras


@pytest.fixture(scope="module")
def web() -> Iterator[SimThread]:
    # a full motion period, so the ground truth has windows
    spec = ClipSpec(width=320, height=180, fps=10, gop=10, bitrate=200_000, seconds=MOTION_PERIOD)
    with SimThread(build_cameras(2, spec, None, quiet=True), http=True) as server:
        yield server


def fetch(url: str, method: str = "GET", body: object = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def decode_jpeg(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data), "r", format="image2pipe") as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


def test_snapshot_is_a_jpeg(web: SimThread) -> None:
    status, data = fetch(f"{web.http_url}/cam1/snapshot.jpg")
    assert status == 200
    assert data[:2] == b"\xff\xd8"
    assert decode_jpeg(data) == JPEG_SIZE
    assert fetch(f"{web.http_url}/cam9/snapshot.jpg")[0] == 404


def test_mjpeg_streams_multipart_jpegs(web: SimThread) -> None:
    url = f"{web.http_url}/cam2/mjpeg"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == (
            f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        )
        buf = b""
        while buf.count(f"--{BOUNDARY}".encode()) < 3:
            buf += response.read1(65536)
    part = buf.split(f"--{BOUNDARY}".encode())[1]
    head, _, body = part.partition(b"\r\n\r\n")
    length = int(head.decode().split("Content-Length: ")[1].split("\r\n")[0])
    assert decode_jpeg(body[:length]) == JPEG_SIZE


def test_fault_control_api(web: SimThread) -> None:
    status, body = fetch(f"{web.http_url}/api/cameras/cam1/faults")
    assert status == 200 and json.loads(body)["drop_after"] is None
    status, body = fetch(
        f"{web.http_url}/api/cameras/cam1/faults", "PUT", {"drop_after": 20, "slow": True}
    )
    assert status == 200
    assert json.loads(body)["drop_after"] == 20.0 and json.loads(body)["slow"] is True
    assert web.cameras["cam1"].faults.drop_after == 20.0
    status, body = fetch(f"{web.http_url}/api/cameras/cam1/faults", "PUT", {"bogus": 1})
    assert status == 422 and "bogus" in json.loads(body)["error"]
    status, _ = fetch(f"{web.http_url}/api/cameras/cam1/faults", "PUT", {"drop_after": "x"})
    assert status == 422
    assert fetch(f"{web.http_url}/api/cameras/cam7/faults", "PUT", {"slow": True})[0] == 404
    fetch(f"{web.http_url}/api/cameras/cam1/faults", "PUT", {"drop_after": None, "slow": False})
    status, body = fetch(f"{web.http_url}/api/cameras")
    cams = json.loads(body)
    assert set(cams) == {"cam1", "cam2"}
    assert cams["cam1"]["faults"]["slow"] is False
    assert cams["cam1"]["streams"]["main"] == [320, 180, 10]


def test_motion_ground_truth_over_http_matches_the_function(web: SimThread) -> None:
    now = time.time()
    status, body = fetch(f"{web.http_url}/api/schedule?start={now}&end={now + 60}")
    assert status == 200
    windows = [(w["start"], w["end"]) for w in json.loads(body)["motion"]]
    assert windows == web.sim.motion_schedule(now, now + 60)
    whole = [w for w in windows if w[0] > now and w[1] < now + 60]
    assert all(abs((b - a) - 5.0) < 1e-6 for a, b in whole)
    starts = [a for a, _ in whole]
    assert all(abs((b - a) - MOTION_PERIOD) < 1e-6 for a, b in itertools.pairwise(starts))
    assert fetch(f"{web.http_url}/api/schedule?start=x")[0] == 422
