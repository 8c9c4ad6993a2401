"""A regression test for each finding of the access audit (issue 17)."""

from __future__ import annotations

import base64
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from fastapi.testclient import TestClient

from tests.auth.conftest import PASSWORD, World
from tests.helpers import ServerThread, wait_for
from vigil.api import create_app
from vigil.api.policy import HttpPolicy
from vigil.auth.throttle import WINDOW
from vigil.camera.manager import CameraManager
from vigil.config import validate_data
from vigil.config.file import ConfigFile
from vigil.errors import ConfigError
from vigil.server import private
from vigil.sources.url import redact_text

CAMERA = {"inputs": [{"url": "rtsp://10.0.0.5/stream", "username": "u", "password": "pw-stored"}]}


def test_a_cross_site_post_with_a_valid_cookie_is_refused(world: World) -> None:
    admin = world.client("admin")
    evil = admin.post("/api/cameras/front/stop", headers={"origin": "http://evil.example"})
    assert (evil.status_code, evil.json()["code"]) == (403, "E613")
    site = admin.post("/api/cameras/front/stop", headers={"sec-fetch-site": "cross-site"})
    assert site.status_code == 403
    same = admin.post("/api/cameras/front/stop", headers={"origin": "http://testserver"})
    assert same.status_code == 200


def test_a_text_plain_body_is_refused(world: World) -> None:
    admin = world.client("admin")
    plain = admin.post(
        "/api/cameras/front/events", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert (plain.status_code, plain.json()["code"]) == (415, "E614")
    form = admin.post("/api/auth/login", data={"username": "admin", "password": PASSWORD})
    assert form.status_code == 415


def test_a_foreign_host_is_refused() -> None:
    app = create_app(CameraManager({}), policy=HttpPolicy(frozenset({"127.0.0.1", "localhost"})))
    with TestClient(app, base_url="http://attacker.example") as client:
        refused = client.get("/api/health")
        assert (refused.status_code, refused.json()["code"]) == (400, "E615")
    with TestClient(app, base_url="http://localhost:8080") as client:
        assert client.get("/api/health").status_code == 200


def test_api_values_are_never_expanded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_TEST_SECRET", "the-secret-value")
    admin = world.client("admin")
    body = {
        "name": "leak",
        "inputs": [{"url": "rtsp://10.0.0.9/x", "username": "${VIGIL_TEST_SECRET}"}],
    }
    refused = admin.post("/api/cameras", json=body)
    assert refused.status_code == 422
    assert [e["code"] for e in refused.json()["errors"]] == ["E618"]
    assert "the-secret-value" not in refused.text
    assert admin.get("/api/cameras/leak").status_code == 404


class Catcher:
    """An RTSP listener that asks for Basic credentials (401) on every request and keeps
    every byte it was sent: what a host chosen by an attacker would see."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while chunk := conn.recv(4096):
                self.received += chunk
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    head, buffer = buffer.split(b"\r\n\r\n", 1)
                    cseq = next(
                        (line for line in head.split(b"\r\n") if line.startswith(b"CSeq")),
                        b"CSeq: 1",
                    )
                    conn.sendall(
                        b"RTSP/1.0 401 Unauthorized\r\n" + cseq + b"\r\n"
                        b'WWW-Authenticate: Basic realm="cam"\r\n\r\n'
                    )

    def close(self) -> None:
        self.sock.close()


def test_a_new_host_never_gets_the_stored_password_on_the_wire(tmp_path: Path) -> None:
    """Through the API and a real connection: the camera's own host gets its credentials
    when it asks; after a PUT that moves the input to another listener and sends no
    password, that listener is asked the same and never sees them."""
    old, new = Catcher(), Catcher()
    stored = base64.b64encode(b"u:pw-stored")
    path = tmp_path / "vigil.yaml"
    path.write_text("cameras: {}\n")
    config_file = ConfigFile(path)
    config_file.load()
    url = "rtsp://127.0.0.1:{}/stream"
    item = {"url": url.format(old.port), "username": "u", "password": "pw-stored"}
    config = config_file.set_camera("door", {"inputs": [item], "record": {"mode": "off"}})
    manager = CameraManager(config.cameras)
    try:
        with TestClient(create_app(manager, config_file)) as client:
            wait_for(lambda: stored in old.received, 20, "the camera's host asked and was told")
            moved = {"inputs": [{"url": url.format(new.port), "username": "u"}]}
            assert client.put("/api/cameras/door", json=moved).status_code == 200
            wait_for(
                lambda: (error := manager.status("door").last_error) and error.code == "E203",
                20,
                "the new host's 401",
            )
            assert b"DESCRIBE" in new.received or b"OPTIONS" in new.received
            assert stored not in new.received and b"Authorization" not in new.received
            assert b"pw-stored" not in new.received
    finally:
        manager.shutdown()
        old.close()
        new.close()


def test_a_name_resolving_outside_camera_networks_is_refused_at_connect() -> None:
    """``localhost`` passes the config check (a name), but resolves to loopback, outside
    ``camera_networks``: the input fails with E118 and never connects."""
    listener = Catcher()
    networks = {"server": {"camera_networks": ["10.0.0.0/8"]}}
    item = {"url": f"rtsp://localhost:{listener.port}/x"}
    config = validate_data({**networks, "cameras": {"a": {"inputs": [item]}}})
    manager = CameraManager(config.cameras, camera_networks=config.server.camera_networks)
    try:
        manager.start()
        error = wait_for(lambda: manager.status("a").last_error, 20, "the refusal")
        assert error.code == "E118" and "refused" in error.message
        assert listener.received == b""
    finally:
        manager.shutdown()
        listener.close()
    listener = Catcher()
    item = {"url": f"rtsp://localhost:{listener.port}/x"}
    config = validate_data({"cameras": {"a": {"inputs": [item]}}})
    allowed = CameraManager(config.cameras, camera_networks=["127.0.0.0/8", "::1/128"])
    try:
        allowed.start()
        wait_for(lambda: listener.received, 20, "a connection once loopback is allowed")
    finally:
        allowed.shutdown()
        listener.close()


def test_a_new_host_never_gets_the_stored_password(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text("cameras: {}\n")
    config_file = ConfigFile(path)
    config_file.load()
    config_file.set_camera("door", CAMERA)
    moved = {"inputs": [{"url": "rtsp://attacker.example/stream", "username": "u"}]}
    camera = config_file.set_camera("door", moved).cameras["door"]
    assert camera.inputs[0].password is None
    assert "pw-stored" not in path.read_text()
    same = config_file.set_camera("door", CAMERA)  # back, with the password sent again
    kept = config_file.set_camera(
        "door", {"inputs": [{"url": "rtsp://10.0.0.5/other", "username": "u"}]}
    )
    assert same.cameras["door"].inputs[0].password is not None
    password = kept.cameras["door"].inputs[0].password
    assert password is not None and password.get_secret_value() == "pw-stored"  # same host


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "[fd00:ec2::254]",
        "metadata.google.internal",
        "2852039166",  # 169.254.169.254 as one number: getaddrinfo reads it so
        "[::ffff:169.254.169.254]",
        "[fe80::1]",
    ],
)
def test_ssrf_targets_are_refused(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_data({"cameras": {"a": {"inputs": [{"url": f"rtsp://{host}/x"}]}}})
    assert [e.code for e in caught.value.errors] == ["E118"]


def test_camera_networks_open_and_narrow_what_is_allowed() -> None:
    opened = {"server": {"camera_networks": ["169.254.0.0/16"]}}
    validate_data({**opened, "cameras": {"a": {"inputs": [{"url": "rtsp://169.254.1.2/x"}]}}})
    with pytest.raises(ConfigError):
        validate_data({**opened, "cameras": {"a": {"inputs": [{"url": "rtsp://10.0.0.1/x"}]}}})


def test_a_big_body_gets_413_without_being_read(world: World) -> None:
    with ServerThread(world.app) as server:
        import httpx2 as httpx

        rss = psutil.Process().memory_info().rss

        def chunks() -> Iterator[bytes]:
            for _ in range(128):
                yield b"v" * 65536  # 8 MB in all, sent without a Content-Length

        cookie = world.client("admin").cookies.get("vigil_session")
        response = httpx.post(
            server.url("/api/cameras/front/webrtc"),
            content=chunks(),
            headers={"content-type": "application/sdp"},
            cookies={"vigil_session": cookie or ""},
        )
        assert (response.status_code, response.json()["code"]) == (413, "E616")
        with socket.create_connection(("127.0.0.1", server.port)) as raw:  # a claimed size
            raw.sendall(
                b"POST /api/cameras HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
            )
            assert raw.recv(4096).startswith(b"HTTP/1.1 413")
        assert psutil.Process().memory_info().rss - rss < 8 * 1024 * 1024


def test_log_redaction_is_linear() -> None:
    def cost(size: int) -> float:
        text = "rtsp://" + "a" * size
        started = time.perf_counter()
        for _ in range(5):
            redact_text(text)
        return time.perf_counter() - started

    cost(1000)  # warm up
    small, large = cost(32_000), cost(320_000)
    assert large < small * 40  # ten times the text: quadratic would be a hundred times


def test_control_characters_in_credentials_are_refused() -> None:
    for field in ("username", "password"):
        item = {"url": "rtsp://10.0.0.5/x", field: "admin\r\nX-Injected: 1"}
        with pytest.raises(ConfigError) as caught:
            validate_data({"cameras": {"a": {"inputs": [item]}}})
        assert [e.code for e in caught.value.errors] == ["E116"]


def test_long_urls_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_data({"cameras": {"a": {"inputs": [{"url": "rtsp://10.0.0.5/" + "a" * 2100}]}}})
    assert [e.code for e in caught.value.errors] == ["E117"]


@pytest.mark.parametrize("minutes", [float("inf"), float("nan"), 1441])
def test_the_export_cap_is_finite(minutes: float) -> None:
    camera = {"inputs": [{"url": "rtsp://10.0.0.5/x"}], "record": {"export_max_minutes": minutes}}
    with pytest.raises(ConfigError):
        validate_data({"cameras": {"a": camera}})


def test_huge_ids_are_404(world: World) -> None:
    admin = world.client("admin")
    for path in (
        "/api/recordings/99999999999999999999999/file",
        "/api/recordings/-1/file",
        "/api/events/18446744073709551616/thumbnail.jpg",
        "/api/auth/tokens/99999999999999999999",
    ):
        method = "DELETE" if "tokens" in path else "GET"
        response = admin.request(method, path)
        assert (response.status_code, response.json()["code"]) == (404, "E604"), path


def test_listings_are_paginated(world: World) -> None:
    admin = world.client("admin")
    first = admin.get("/api/recordings", params={"limit": 1}).json()
    assert len(first["recordings"]) == 1 and first["next"]
    second = admin.get("/api/recordings", params={"limit": 1, "cursor": first["next"]}).json()
    assert len(second["recordings"]) == 1
    assert second["recordings"][0]["id"] != first["recordings"][0]["id"]
    last = admin.get("/api/recordings", params={"limit": 1, "cursor": second["next"]}).json()
    assert last == {"recordings": [], "next": None}
    assert admin.get("/api/recordings", params={"limit": 1001}).status_code == 422


def test_brute_force_is_throttled_then_forgiven(world: World) -> None:
    anonymous = world.client()
    codes = []
    for _ in range(50):
        wrong = anonymous.post(
            "/api/auth/login", json={"username": "admin", "password": "nope-nope"}
        )
        codes.append(wrong.status_code)
    assert set(codes[:5]) == {401}
    assert codes[5:] == [429] * 45  # no password is checked while locked out
    locked = anonymous.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    world.clock.advance(WINDOW)
    assert (
        anonymous.post(
            "/api/auth/login", json={"username": "admin", "password": PASSWORD}
        ).status_code
        == 200
    )
    failures = [r for r in world.access.audit_log(100) if r.action == "login" and not r.ok]
    assert len(failures) == 51 and failures[0].address == "testclient"


def test_sessions_end_when_idle_and_on_a_new_password(world: World) -> None:
    alice = world.client("alice")
    assert alice.get("/api/auth/me").status_code == 200
    world.clock.advance(3601)  # the fixture's idle time is an hour
    assert alice.get("/api/auth/me").status_code == 401
    alice = world.client("alice")
    world.access.set_password("alice", "another good password")
    assert alice.get("/api/auth/me").status_code == 401


def test_removing_a_user_ends_its_sessions_and_tokens(world: World) -> None:
    victor = world.client("victor")
    _, token = world.access.create_token("ha", "victor")
    bearer = {"authorization": f"Bearer {token}"}
    assert world.client().get("/api/auth/me", headers=bearer).status_code == 200
    world.access.remove_user("victor")
    assert victor.get("/api/auth/me").status_code == 401
    assert world.client().get("/api/auth/me", headers=bearer).status_code == 401


def test_auth_can_be_off_on_loopback_only() -> None:
    validate_data({"auth": {"enabled": False}})
    with pytest.raises(ConfigError) as caught:
        validate_data({"auth": {"enabled": False}, "server": {"host": "0.0.0.0"}})
    assert [e.code for e in caught.value.errors] == ["E617"]


def test_config_errors_never_print_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text(
        "cameras:\n  a:\n    inputs:\n      - url: rtsp://10.0.0.5/x\n"
        "        password: hunter2-first\n        password: hunter2-second\n"
    )
    with pytest.raises(ConfigError) as caught:
        ConfigFile(path).load()
    report = caught.value.report()
    assert "E105" in report and "hunter2" not in report


def test_secrets_are_private_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "vigil.yaml"
    path.write_text("cameras: {}\n")
    path.chmod(0o644)
    config_file = ConfigFile(path)
    config_file.load()
    config_file.set_camera("door", CAMERA)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = tmp_path / "vigil.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    private(db)
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_security_headers_on_every_answer(world: World) -> None:
    anonymous = world.client()
    for path in ("/login", "/api/health", "/api/cameras", "/nowhere"):
        headers = anonymous.get(path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_a_symlink_out_of_storage_is_never_served(world: World, tmp_path: Path) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    secret.write_text("root:x:0:0")
    link = tmp_path / "front" / "link.mp4"
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(secret)
    index = world.app.state.services.manager.recording.index
    row = index.add_segment(
        camera="front",
        start=1.0,
        end=2.0,
        duration=1.0,
        bytes=10,
        codec="h264",
        has_event=False,
        path="front/link.mp4",
    )
    response = world.client("admin").get(f"/api/recordings/{row}/file")
    assert response.status_code == 404 and b"root:" not in response.content
