"""An app with auth on, two cameras (front and back, stopped: no stream needed to test who
may reach them), a recording and an event of each in a real SQLite index, and principals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.helpers import ManualClock
from vigil.api import create_app
from vigil.auth import Access, AuthSettings, UserRole
from vigil.auth.store import AuthStore
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.recording.recorder import RecordingContext
from vigil.storage.index import Index

PASSWORD = "correct horse battery"
CAMERAS = {
    "front": {"enabled": False, "inputs": [{"url": "rtsp://127.0.0.1:1/front"}]},
    "back": {"enabled": False, "inputs": [{"url": "rtsp://127.0.0.1:1/back"}]},
}


@dataclass
class World:
    app: FastAPI
    access: Access
    clock: ManualClock
    ids: dict[str, int]  # recording and event ids of each camera: "front-rec", "back-event"
    token: str  # an admin's bearer token

    def client(self, who: str | None = None) -> TestClient:
        """A client logged in as `who` (a user name), or anonymous."""
        client = TestClient(self.app)  # the fixture's client runs the lifespan, once
        if who is not None:
            response = client.post("/api/auth/login", json={"username": who, "password": PASSWORD})
            assert response.status_code == 200, response.text
        return client


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    config = validate_data({"cameras": CAMERAS})
    index = Index(tmp_path / "vigil.db")
    ids = {}
    now = time.time()
    for camera in ("front", "back"):
        ids[f"{camera}-rec"] = index.add_segment(
            camera=camera,
            start=now - 60,
            end=now,
            duration=60.0,
            bytes=1000,
            codec="h264",
            has_event=True,
            path=f"{camera}/missing.mp4",
        )
        ids[f"{camera}-event"] = index.add_event(
            camera=camera, start=now - 30, end=now - 20, peak_area=0.1, zones=[], thumbnail=b"jpg"
        )
    clock = ManualClock(start=now)
    access = Access(AuthStore(index.engine), AuthSettings(idle_seconds=3600), now=clock.now)
    access.add_user("admin", UserRole.ADMIN, ["*"], PASSWORD)
    access.add_user("alice", UserRole.VIEWER, ["front"], PASSWORD)  # a viewer of front only
    access.add_user("victor", UserRole.VIEWER, ["*"], PASSWORD)  # a viewer of every camera
    _, token = access.create_token("script", "admin")
    manager = CameraManager(config.cameras, recording=RecordingContext(tmp_path, index))
    app = create_app(manager, access=access)
    with TestClient(app):  # the lifespan: the export pool
        yield World(app, access, clock, ids, token)
