"""``/api/events``: stored events in docs/api.md's shape, filtered, with thumbnails by id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from vigil.api import create_app
from vigil.camera.manager import CameraManager
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

T0 = 1_795_000_000.0  # 2026-11-18T...Z


def jpeg(gray: np.ndarray) -> bytes:
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = gray.shape[1], gray.shape[0], "yuvj420p"
    encoder.time_base = Fraction(1, 5)
    frame = av.VideoFrame.from_ndarray(gray, format="gray").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in encoder.encode(frame))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, int]]]:
    ctx = RecordingContext(tmp_path, Index(tmp_path / "vigil.db"))
    thumb = jpeg(np.full((90, 160), 128, dtype=np.uint8))
    ids = {
        "yard": ctx.index.add_event(
            camera="yard", start=T0, end=T0 + 8, peak_area=0.0123, zones=["path"], thumbnail=thumb
        ),
        "porch": ctx.index.add_event(
            camera="porch", start=T0 + 100, end=T0 + 104, peak_area=0.5, zones=[]
        ),
    }
    with TestClient(create_app(CameraManager({}, recording=ctx))) as test_client:
        yield test_client, ids


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_events_are_listed_in_the_contract_shape(client: tuple[TestClient, dict[str, int]]) -> None:
    test_client, ids = client
    events = test_client.get("/api/events").json()["events"]
    assert [e["id"] for e in events] == [ids["yard"], ids["porch"]]
    yard = events[0]
    assert set(yard) == {"id", "camera", "start", "end", "peak_area", "zones", "thumbnail"}
    assert yard["camera"] == "yard" and yard["zones"] == ["path"]
    assert datetime.fromisoformat(yard["start"]).timestamp() == T0
    assert yard["peak_area"] == pytest.approx(0.0123)
    assert yard["thumbnail"] == f"/api/events/{ids['yard']}/thumbnail.jpg"
    assert events[1]["thumbnail"] is None


def test_events_filter_by_camera_and_time(client: tuple[TestClient, dict[str, int]]) -> None:
    test_client, ids = client
    by_camera = test_client.get("/api/events", params={"camera": "porch"}).json()["events"]
    assert [e["id"] for e in by_camera] == [ids["porch"]]
    window = {"start": iso(T0 + 5), "end": iso(T0 + 50)}
    assert [e["id"] for e in test_client.get("/api/events", params=window).json()["events"]] == [
        ids["yard"]
    ]


def test_a_thumbnail_is_a_jpeg_served_by_id(client: tuple[TestClient, dict[str, int]]) -> None:
    test_client, ids = client
    response = test_client.get(f"/api/events/{ids['yard']}/thumbnail.jpg")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    decoder = av.CodecContext.create("mjpeg", "r")
    [frame] = decoder.decode(av.Packet(response.content))
    assert (frame.width, frame.height) == (160, 90)


@pytest.mark.parametrize(
    "path",
    [
        "/api/events/999999/thumbnail.jpg",
        "/api/events/..%2F..%2Fetc%2Fpasswd/thumbnail.jpg",
        "/api/events/%2e%2e/thumbnail.jpg",
        "/api/events?camera=../../etc",
        "/api/events?start=yesterday",
    ],
)
def test_bad_requests_get_4xx(client: tuple[TestClient, dict[str, int]], path: str) -> None:
    test_client, _ = client
    response = test_client.get(path)
    assert 400 <= response.status_code < 500
    assert response.json()["code"].startswith("E6")


def test_an_event_without_a_thumbnail_has_none_to_serve(
    client: tuple[TestClient, dict[str, int]],
) -> None:
    test_client, ids = client
    response = test_client.get(f"/api/events/{ids['porch']}/thumbnail.jpg")
    assert (response.status_code, response.json()["code"]) == (404, "E604")
