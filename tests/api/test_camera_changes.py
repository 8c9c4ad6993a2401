"""Camera changes through the API: applied at once, written back to a real config file (comments
and ``${VAR}`` kept), surviving a restart; bad input changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import CAM_SECRET, CAM_USER, SimThread, camera_service, wait_for
from vigil.api import create_app
from vigil.config import validate_data
from vigil.config.file import ConfigFile
from vigil.errors import ConfigError

ENV = {"CAM_PASS": CAM_SECRET}


def config_text(sim: SimThread) -> str:
    return f"""\
# vigil test config: this comment must survive API changes
cameras:
  front:   # the front door
    inputs:
      - url: {sim.url("cam1")}
        roles: [detect, live]
    record: {{mode: off}}
  locked:
    inputs:
      - url: {sim.url("cam3")}
        username: {CAM_USER}
        password: ${{CAM_PASS}}   # from the environment
        roles: [detect, live]
    record: {{mode: off}}
"""


class Service:
    """The app around a config file, as `vigil run` builds it; `restart` builds it again."""

    def __init__(self, path: Path, workers: int = 1):
        self.path = path
        self.workers = workers
        self._client: TestClient | None = None

    @property
    def client(self) -> TestClient:
        """The running app's client (between start and stop)."""
        assert self._client is not None, "the service is not running"
        return self._client

    def start(self) -> TestClient:
        config_file = ConfigFile(self.path, env=ENV)
        config = config_file.load()
        manager = camera_service(config.cameras, self.workers)
        self._client = TestClient(create_app(manager, config_file))
        self._client.__enter__()
        return self._client

    def stop(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None


@pytest.fixture
def service(sim: SimThread, tmp_path: Path) -> Iterator[Service]:
    """One process: for requests refused before they reach a camera (bodies, fields,
    sources, names), which never cross to a worker."""
    yield from _serving(sim, tmp_path, 1)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def any_service(
    sim: SimThread, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Service]:
    """Changes that reach the cameras: against one process, then two worker processes."""
    yield from _serving(sim, tmp_path, request.param)


def _serving(sim: SimThread, tmp_path: Path, workers: int) -> Iterator[Service]:
    path = tmp_path / "vigil.yaml"
    path.write_text(config_text(sim))
    svc = Service(path, workers)
    svc.start()
    yield svc
    svc.stop()


def new_camera(sim: SimThread, **extra: Any) -> dict[str, Any]:
    return {
        "name": "garage",
        "inputs": [{"url": sim.url("cam2"), "roles": ["detect", "live"]}],
        "record": {"mode": "off"},
        **extra,
    }


def streaming(client: TestClient, name: str) -> bool:
    response = client.get(f"/api/cameras/{name}")
    return response.status_code == 200 and response.json()["state"] == "streaming"


def test_post_streams_at_once_is_written_back_survives_a_restart_and_delete_removes_it(
    any_service: Service, sim: SimThread
) -> None:
    client = any_service.client
    response = client.post("/api/cameras", json=new_camera(sim))
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "garage"
    wait_for(lambda: streaming(client, "garage"), 20, "the new camera streaming, no restart")
    text = any_service.path.read_text()
    assert "garage:" in text
    assert "roles: [detect, live]" in text  # lists of words as people write them
    assert "# vigil test config: this comment must survive API changes" in text
    assert "# the front door" in text and "# from the environment" in text
    assert "${CAM_PASS}" in text  # the reference, never the secret it expands to
    assert CAM_SECRET not in text
    assert streaming(client, "front")  # the others ran on

    any_service.stop()
    client = any_service.start()
    wait_for(lambda: streaming(client, "garage"), 10, "the camera back after a restart")

    assert client.delete("/api/cameras/garage").status_code == 204
    assert client.get("/api/cameras/garage").status_code == 404
    assert "garage" not in any_service.path.read_text()
    assert "garage" not in ConfigFile(any_service.path, env=ENV).load().cameras


def test_put_replaces_one_camera_and_keeps_the_stored_password(
    any_service: Service, sim: SimThread
) -> None:
    client = any_service.client
    wait_for(lambda: streaming(client, "locked"), 10, "the camera with credentials streaming")
    shown = client.get("/api/cameras/locked").json()["config"]
    assert "password" not in shown["inputs"][0]
    assert "detect" not in shown  # only what the file sets: defaults are left out
    shown["detect"] = {"fps": 2}
    response = client.put("/api/cameras/locked", json=shown)  # sent back without a password
    assert response.status_code == 200, response.text
    assert response.json()["config"]["detect"]["fps"] == 2
    wait_for(lambda: streaming(client, "locked"), 10, "streaming again with the kept password")
    text = any_service.path.read_text()
    assert "password: ${CAM_PASS}" in text and "# from the environment" in text
    assert "fps: 2" in text
    body = client.get("/api/cameras").text + client.get("/api/cameras/locked").text
    assert CAM_SECRET not in body


def test_a_url_sent_back_redacted_keeps_its_credentials(
    any_service: Service, sim: SimThread
) -> None:
    client = any_service.client
    secret_url = sim.url("cam3").replace("rtsp://", f"rtsp://{CAM_USER}:{CAM_SECRET}@")
    camera = new_camera(sim, inputs=[{"url": secret_url, "roles": ["detect", "live"]}])
    assert client.post("/api/cameras", json=camera).status_code == 201
    shown = client.get("/api/cameras/garage").json()["config"]
    assert CAM_SECRET not in shown["inputs"][0]["url"]
    assert client.put("/api/cameras/garage", json=shown).status_code == 200
    wait_for(lambda: streaming(client, "garage"), 10, "streaming with the URL's kept password")


def test_start_and_stop(any_service: Service) -> None:
    client = any_service.client
    wait_for(lambda: streaming(client, "front"), 10, "streaming")
    assert client.post("/api/cameras/front/stop").json()["state"] == "stopped"
    assert client.post("/api/cameras/front/start").status_code == 200
    wait_for(lambda: streaming(client, "front"), 10, "streaming again")


# ---- bad input: an error with its code, and nothing changed ----------------------------------


def unchanged(service: Service, before: str, names: set[str]) -> None:
    assert service.path.read_text() == before
    listed = {c["name"] for c in service.client.get("/api/cameras").json()["cameras"]}
    assert listed == names


def test_duplicate_name_is_409(any_service: Service, sim: SimThread) -> None:
    before = any_service.path.read_text()
    response = any_service.client.post("/api/cameras", json=new_camera(sim, name="front"))
    assert response.status_code == 409
    assert response.json()["code"] == "E603"
    unchanged(any_service, before, {"front", "locked"})


def test_invalid_fields_are_422_with_check_configs_codes_and_paths(
    service: Service, sim: SimThread
) -> None:
    before = service.path.read_text()
    bad = new_camera(sim, detect={"fps": -1, "colour": "red"})
    bad["inputs"][0]["url"] = "ftp://somewhere/stream"
    response = service.client.post("/api/cameras", json=bad)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "E602"
    fields = {name: value for name, value in bad.items() if name != "name"}
    with pytest.raises(ConfigError) as checked:  # what check-config says of the same camera
        validate_data({"cameras": {"garage": fields}})
    expected = {(e.path, e.code) for e in checked.value.errors}
    assert {(e["path"], e["code"]) for e in body["errors"]} == expected
    assert ("cameras.garage.detect.fps", "E103") in expected
    unchanged(service, before, {"front", "locked"})


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"inputs": [{"url": "rtsp://h/s"}]},  # no name
        {"name": "bad name!", "inputs": [{"url": "rtsp://h/s"}]},
    ],
)
def test_malformed_bodies_are_422(service: Service, body: object) -> None:
    before = service.path.read_text()
    response = service.client.post("/api/cameras", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "E602"
    unchanged(service, before, {"front", "locked"})


def test_not_json_is_422(service: Service) -> None:
    before = service.path.read_text()
    response = service.client.post(
        "/api/cameras", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    unchanged(service, before, {"front", "locked"})


@pytest.mark.parametrize("url", ["file:///etc/passwd", "usb:///dev/video0", "FILE:///tmp/x.mp4"])
def test_local_sources_are_refused(service: Service, sim: SimThread, url: str) -> None:
    before = service.path.read_text()
    camera = new_camera(sim, inputs=[{"url": url}])
    response = service.client.post("/api/cameras", json=camera)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "E608"
    assert body["errors"][0]["path"] == "cameras.garage.inputs[0].url"
    del camera["name"]
    response = service.client.put("/api/cameras/front", json=camera)
    assert response.status_code == 403
    assert response.json()["errors"][0]["path"] == "cameras.front.inputs[0].url"
    unchanged(service, before, {"front", "locked"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/cameras/nope"),
        ("DELETE", "/api/cameras/nope"),
        ("POST", "/api/cameras/nope/start"),
        ("POST", "/api/cameras/nope/stop"),
    ],
)
def test_unknown_camera_is_404(service: Service, sim: SimThread, method: str, path: str) -> None:
    before = service.path.read_text()
    kwargs: dict[str, Any] = {"json": new_camera(sim)} if method == "PUT" else {}
    response = service.client.request(method, path, **kwargs)
    assert response.status_code == 404
    assert response.json()["code"] == "E601"
    unchanged(service, before, {"front", "locked"})


def test_fifty_parallel_changes_leave_a_valid_file_that_matches_and_no_stray_thread(
    any_service: Service, sim: SimThread
) -> None:
    """Add, replace, remove, start and stop, 50 at once on the same three cameras, from a
    thread pool through the app: every answer is a success or a 4xx with a code, the file
    stays valid, what it holds is what runs, and once every camera is gone no camera
    thread is left."""
    import random
    import threading
    from concurrent.futures import ThreadPoolExecutor

    client = any_service.client
    names = ["c0", "c1", "c2"]
    rng = random.Random(7)

    def change(n: int) -> int:
        name = rng.choice(names)
        kind = n % 5
        body = {"inputs": [{"url": sim.url(f"cam{1 + n % 2}")}], "record": {"mode": "off"}}
        if kind == 0:
            response = client.post("/api/cameras", json={"name": name, **body})
        elif kind == 1:
            response = client.put(f"/api/cameras/{name}", json=body)
        elif kind == 2:
            response = client.delete(f"/api/cameras/{name}")
        else:
            response = client.post(f"/api/cameras/{name}/{'start' if kind == 3 else 'stop'}")
        if response.status_code >= 400:
            assert response.status_code < 500, response.text
            assert response.json()["code"].startswith("E")
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(change, range(50)))
    assert any(c < 300 for c in codes)
    written = ConfigFile(any_service.path, env=ENV).load()  # valid, and as the any_service runs
    running = {c["name"]: c for c in client.get("/api/cameras").json()["cameras"]}
    assert set(written.cameras) == set(running)
    for name, camera in written.cameras.items():
        assert running[name]["config"]["inputs"][0]["url"] == str(camera.inputs[0].url)
    for name in list(running):
        assert client.delete(f"/api/cameras/{name}").status_code == 204

    def camera_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("vigil-cam-")]

    wait_for(lambda: not camera_threads(), 20, "no camera thread left")
