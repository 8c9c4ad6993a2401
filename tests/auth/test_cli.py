"""``vigil user`` and ``vigil token`` against the database of a running app, and the first
start's admin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vigil.api import create_app
from vigil.auth import Access
from vigil.auth.store import AuthStore
from vigil.camera.manager import CameraManager
from vigil.config import load_config
from vigil.server import _access
from vigil.storage.index import Index


def vigil(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "vigil.yaml"
    path.write_text(f"storage: {{path: {tmp_path / 'data'}}}\ncameras: {{}}\n")
    return path


def test_users_changed_by_the_cli_take_effect_at_once(config: Path) -> None:
    index = Index(load_config(config).storage.database)
    app = create_app(CameraManager({}), access=Access(AuthStore(index.engine)))
    client = TestClient(app)
    added = vigil(
        "user",
        "add",
        "carol",
        "--role",
        "viewer",
        "--cameras",
        "front,back",
        "--password-stdin",
        "--config",
        str(config),
        stdin="carols password\n",
    )
    assert added.returncode == 0, added.stderr
    login = {"username": "carol", "password": "carols password"}
    assert client.post("/api/auth/login", json=login).status_code == 200
    assert client.get("/api/auth/me").json()["cameras"] == ["front", "back"]
    listed = vigil("user", "list", "--config", str(config))
    assert "carol\tviewer\tfront,back" in listed.stdout
    token = vigil("token", "create", "ha", "--user", "carol", "--config", str(config))
    bearer = {"authorization": f"Bearer {token.stdout.strip()}"}
    assert TestClient(app).get("/api/auth/me", headers=bearer).status_code == 200
    assert vigil("user", "remove", "carol", "--config", str(config)).returncode == 0
    assert client.get("/api/auth/me").status_code == 401  # the session ended with the user
    assert TestClient(app).get("/api/auth/me", headers=bearer).status_code == 401


def test_the_cli_refuses_bad_input_with_a_code(config: Path) -> None:
    short = vigil(
        "user",
        "add",
        "dave",
        "--role",
        "admin",
        "--password-stdin",
        "--config",
        str(config),
        stdin="short\n",
    )
    assert short.returncode == 1 and "E602" in short.stderr and "password" in short.stderr
    missing = vigil("user", "remove", "nobody", "--config", str(config))
    assert missing.returncode == 1 and "E604" in missing.stderr


def test_the_first_start_makes_an_admin_and_a_one_time_link(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loaded = load_config(config)
    index = Index(loaded.storage.database)
    access = _access(loaded, index, login_link=False)
    assert access is not None
    printed = capsys.readouterr().err
    password = printed.split("with password ")[1].split()[0]
    link = printed.split("token=")[1].split()[0]
    client = TestClient(create_app(CameraManager({}), access=access))
    assert (
        client.post("/api/auth/login", json={"username": "admin", "password": password}).status_code
        == 200
    )
    linked = TestClient(create_app(CameraManager({}), access=access))
    first = linked.get(f"/api/auth/link?token={link}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert linked.get("/api/auth/me").json()["name"] == "admin"
    again = TestClient(create_app(CameraManager({}), access=access))
    assert (
        again.get(f"/api/auth/link?token={link}", follow_redirects=False).headers["location"]
        == "/login"
    )
    _access(loaded, index, login_link=False)  # a second start: no new admin, nothing printed
    assert "password" not in capsys.readouterr().err
