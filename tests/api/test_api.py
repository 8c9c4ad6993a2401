"""The first API: health and cameras, errors in one shape, no secret in any answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import CAM_SECRET, CAM_USER, SimThread, camera_service, wait_for
from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.const import STATS_WINDOW

CAMERA_FIELDS = {
    "name",
    "state",
    "inputs",
    "fps_in",
    "fps_detect",
    "cpu_pct",
    "reconnects",
    "dropped",
    "last_error",
    "governor",
}


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def client(sim: SimThread, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """Every test here runs against one process, then against two worker processes."""
    secret_url = sim.url("cam3").replace("rtsp://", f"rtsp://{CAM_USER}:{CAM_SECRET}@")
    config = validate_data(
        {
            "cameras": {
                "front": {"inputs": [{"url": sim.url("cam1")}]},
                "secret": {"inputs": [{"url": secret_url}]},
                "wrong": {
                    "inputs": [
                        {"url": sim.url("cam3"), "username": CAM_USER, "password": CAM_SECRET + "x"}
                    ]
                },
            }
        }
    )
    manager = camera_service(config.cameras, workers=request.param)
    with TestClient(create_app(manager)) as test_client:
        yield test_client


def test_cameras_list_has_the_contract_fields_and_no_secret(client: TestClient) -> None:
    def all_reported() -> dict[str, Any] | None:
        cams = {c["name"]: c for c in client.get("/api/cameras").json()["cameras"]}
        ok = cams["front"]["state"] == "streaming" and cams["secret"]["state"] == "streaming"
        return cams if ok and cams["wrong"]["last_error"] else None

    cams = wait_for(all_reported, 20, "cameras streaming")
    for cam in cams.values():
        assert set(cam) >= CAMERA_FIELDS
        assert isinstance(cam["fps_detect"], float)
        # max_level 2: the camera has no lower-resolution input to step down to
        assert cam["governor"] == {"level": 0, "reason": "as configured", "max_level": 2}
        for item in cam["inputs"]:
            assert {"roles", "state", "fps"} <= set(item)
    assert cams["wrong"]["last_error"]["code"] == "E203"
    assert cams["wrong"]["state"] == "reconnecting"
    body = client.get("/api/cameras").text + client.get("/api/cameras/secret").text
    body += client.get("/api/cameras/wrong").text + client.get("/api/health").text
    body += client.get("/openapi.json").text
    assert CAM_SECRET not in body
    assert f"{CAM_USER}:" not in body


def test_detection_runs_at_its_rate_and_shows_its_counts(client: TestClient) -> None:
    def detecting() -> dict[str, Any] | None:
        cam = client.get("/api/cameras/front").json()
        # the rate over a whole STATS_WINDOW: over a second or two after the start, one
        # frame more or less is already a fifth of the figure
        full = (cam["uptime"] or 0) >= STATS_WINDOW + 2
        return cam if full and cam["fps_detect"] >= 3 else None

    cam = wait_for(detecting, 30, "detection at about detect.fps (5), over a full window")
    assert cam["fps_detect"] <= 5.5  # detect.fps caps the processing rate
    frames = cam["detect"]["frames"]
    assert frames["processed"] < frames["decoded"]  # decoded frames not due are not processed
    assert cam["detect"]["mode"] == "full"
    assert cam["detect"]["hwaccel"] == "software"


def test_one_camera(client: TestClient) -> None:
    body = client.get("/api/cameras/front").json()
    assert body["name"] == "front"
    assert body["inputs"][0]["roles"] == ["record", "detect", "live"]


def test_health(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] in ("ok", "degraded")
    assert set(body["cameras"]) == {"front", "secret", "wrong"}
    wait_for(lambda: client.get("/api/health").json()["cameras"]["wrong"]["last_error"], 15, "401")
    assert client.get("/api/health").json()["status"] == "degraded"


def test_unknown_camera_is_404_e601(client: TestClient) -> None:
    response = client.get("/api/cameras/nope")
    assert response.status_code == 404
    assert response.json() == {"code": "E601", "message": "no camera named 'nope'", "errors": []}


def test_validation_errors_use_the_vigil_shape(client: TestClient) -> None:
    response = client.get("/api/cameras/bad name!")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "E602"
    assert body["errors"][0]["path"] == "path.name"
    assert set(body["errors"][0]) == {"path", "code", "message"}


def test_unknown_route_and_method(client: TestClient) -> None:
    assert client.get("/api/nothing").json()["code"] == "E604"
    response = client.delete("/api/health")
    assert response.status_code == 405 and response.json()["code"] == "E605"


def test_metrics_parse_with_prometheus_client(client: TestClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    wait_for(lambda: client.get("/api/cameras/front").json()["state"] == "streaming", 20, "up")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    per_camera = {
        "vigil_camera_state",
        "vigil_camera_input_fps",
        "vigil_camera_detect_fps",
        "vigil_camera_dropped_packets",  # counters are named without _total by the parser
        "vigil_camera_reconnects",
        "vigil_camera_cpu_seconds",
        "vigil_camera_recorded_bytes",
        "vigil_camera_viewers",
        "vigil_camera_governor_level",
    }
    process = {
        "vigil_process_cpu_seconds",
        "vigil_process_resident_memory_bytes",
        "vigil_python_allocated_blocks",
    }
    assert per_camera | process <= set(families)
    for name in per_camera:
        cameras = {s.labels["camera"] for s in families[name].samples}
        assert cameras == {"front", "secret", "wrong"}, name
    states = {
        s.labels["state"]: s.value
        for s in families["vigil_camera_state"].samples
        if s.labels["camera"] == "front"
    }
    assert states["streaming"] == 1 and sum(states.values()) == 1
    rss = families["vigil_process_resident_memory_bytes"].samples[0].value
    assert rss > 10_000_000
    assert families["vigil_python_allocated_blocks"].samples[0].value > 10_000
    assert CAM_SECRET not in response.text


def test_openapi_describes_the_models_and_the_error_answers() -> None:
    app = create_app(CameraManager({}))
    with TestClient(app) as test_client:
        schema = test_client.get("/openapi.json").json()
        assert test_client.get("/docs").status_code == 200
    components = schema["components"]["schemas"]
    assert {"CameraIn", "CameraOut", "ErrorOut", "InputConfig", "Health"} <= set(components)
    assert components["CameraIn"]["properties"]["inputs"]["description"]
    paths = schema["paths"]
    body = paths["/api/cameras"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CameraIn"}
    for path, method, status in [
        ("/api/cameras/{name}", "get", "404"),
        ("/api/cameras", "post", "409"),
        ("/api/cameras", "post", "422"),
        ("/api/cameras/{name}/webrtc", "post", "400"),
        ("/api/cameras/{name}/snapshot.jpg", "get", "503"),
        ("/api/cameras/{name}/export", "get", "400"),
        ("/api/events", "get", "422"),
    ]:
        answer = paths[path][method]["responses"][status]
        ref = answer["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorOut", (path, method, status)
    assert (
        "application/sdp" in paths["/api/cameras/{name}/webrtc"]["post"]["requestBody"]["content"]
    )
    assert "/metrics" in paths
