"""What the access layer trusts of the connection: TLS, a trusted proxy's headers (and no one
else's), the log line fail2ban reads, the audit log's pruning after ``auth.audit_days``, and
the deadline on a request that never arrives whole (slowloris)."""

from __future__ import annotations

import datetime
import logging
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.auth.conftest import PASSWORD, World
from tests.helpers import ServerThread, free_port, wait_for
from tests.test_cli import VIGIL
from vigil.api import create_app
from vigil.api.policy import HttpPolicy
from vigil.api.protocol import BoundedH11Protocol, http_options
from vigil.auth import Access, AuthSettings, UserRole
from vigil.auth.store import AuthStore
from vigil.camera.manager import CameraManager
from vigil.sources.network import parse_networks
from vigil.storage.index import Index

# The filter docs/security.md gives fail2ban: the address is the line's last word, after
# the user name (quoted by repr, so a name can't end the line with an address of its own).
FAIL2BAN = re.compile(r"\[E611\] (?:Basic )?login failed for user .* from (?P<host>\S+)$")


@pytest.fixture
def proxied(world: World) -> Iterator[ServerThread]:
    """The world's access, served over real HTTP behind a "proxy" on 127.0.0.1."""
    policy = HttpPolicy(trusted_proxies=tuple(parse_networks(["127.0.0.1/32"])))
    app = create_app(CameraManager(), access=world.access, policy=policy)
    with ServerThread(app) as server:
        yield server


def _login(url: str, headers: dict[str, str], password: str = PASSWORD) -> httpx.Response:
    body = {"username": "admin", "password": password}
    return httpx.post(url, json=body, headers=headers)


FORWARDED = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}


def test_a_trusted_proxy_says_https_and_who_the_client_is(
    proxied: ServerThread, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ok = _login(proxied.url("/api/auth/login"), FORWARDED)
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    with caplog.at_level(logging.WARNING, logger="vigil.auth.access"):
        assert _login(proxied.url("/api/auth/login"), FORWARDED, "wrong").status_code == 401
    hosts = [m["host"] for r in caplog.records if (m := FAIL2BAN.search(r.getMessage()))]
    assert hosts == ["203.0.113.9"]  # the client behind the proxy, as fail2ban would ban
    audit = world.access.audit_log(limit=10)
    assert [(e.address, e.ok) for e in audit if e.action == "login"][:2] == [
        ("203.0.113.9", False),
        ("203.0.113.9", True),
    ]


def test_the_same_headers_from_anyone_else_count_for_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The world's app trusts no proxy: the headers are the client's own claim."""
    app = create_app(CameraManager(), access=world.access, policy=HttpPolicy())
    with ServerThread(app) as server:
        ok = _login(server.url("/api/auth/login"), FORWARDED)
        assert ok.status_code == 200
        assert "secure" not in ok.headers["set-cookie"].lower()  # plain HTTP, said so
        with caplog.at_level(logging.WARNING, logger="vigil.auth.access"):
            name = "admin' from 198.51.100.1"  # a name that tries to plant an address
            body = {"username": name, "password": "wrong"}
            assert httpx.post(server.url("/api/auth/login"), json=body).status_code == 401
    hosts = [m["host"] for r in caplog.records if (m := FAIL2BAN.search(r.getMessage()))]
    assert hosts == ["127.0.0.1"]


def test_audit_entries_go_after_audit_days_and_expired_sessions_with_them(tmp_path: Path) -> None:
    clock = [1_000_000.0]
    settings = AuthSettings(idle_seconds=3600, audit_days=2)
    access = Access(AuthStore(Index(tmp_path / "vigil.db").engine), settings, now=lambda: clock[0])
    access.add_user("admin", UserRole.ADMIN, ["*"], PASSWORD)
    old = access.login("admin", PASSWORD, "192.0.2.1")
    clock[0] += 86400 * 1.5
    recent = access.login("admin", PASSWORD, "192.0.2.2")
    clock[0] += 86400 * 0.75  # the first entries are 2.25 days old, the second 0.75
    access.prune()
    assert {e.address for e in access.audit_log(limit=100)} == {"192.0.2.2"}
    assert access.session(old.session) is None  # idle for days
    assert access.session(recent.session) is None  # idle for 18 h too (an hour allowed)
    fresh = access.login("admin", PASSWORD, "192.0.2.3")
    access.prune()
    assert access.session(fresh.session) is not None  # what is in date stays


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_vigil_run_serves_https_with_server_tls_and_its_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"server: {{port: {port}, tls: {{cert: {cert}, key: {key}}}}}\n"
        f"storage: {{path: {tmp_path / 'data'}}}\n"
        "cameras: {}\n"
    )
    add = ["user", "add", "tester", "--role", "admin", "--password-stdin"]
    subprocess.run(
        [*VIGIL, *add, "--config", str(config)],
        input=f"{PASSWORD}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the certificate names an address, not a host name
    log = tmp_path / "vigil.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*VIGIL, "run", "--config", str(config)], stdout=out, stderr=out)
    try:

        def health() -> httpx.Response | None:
            try:
                return httpx.get(f"https://127.0.0.1:{port}/api/health", verify=context)
            except httpx.TransportError:
                return None if proc.poll() is None else pytest.fail(log.read_text())

        assert wait_for(health, 30, "vigil on https").status_code == 200
        body = {"username": "tester", "password": PASSWORD}
        ok = httpx.post(f"https://127.0.0.1:{port}/api/auth/login", json=body, verify=context)
        assert ok.status_code == 200 and "secure" in ok.headers["set-cookie"].lower()
        wrong = {"username": "tester", "password": "wrong"}  # a claim from no trusted proxy
        headers = {"x-forwarded-for": "203.0.113.9"}
        url = f"https://127.0.0.1:{port}/api/auth/login"
        assert httpx.post(url, json=wrong, headers=headers, verify=context).status_code == 401
        with pytest.raises(httpx.TransportError):  # no plain HTTP on the same port
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
    finally:
        proc.terminate()
        proc.wait(30)
    lines = log.read_text().splitlines()
    assert [m["host"] for line in lines if (m := FAIL2BAN.search(line))] == ["127.0.0.1"]


class QuickProtocol(BoundedH11Protocol):
    request_timeout = 0.5  # the deadline, made short for the test


@pytest.fixture
def bounded() -> Iterator[int]:
    """A real uvicorn server with vigil's protocol, configured as vigil.server does."""
    app = create_app(CameraManager())
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, timeout_keep_alive=5, **http_options(QuickProtocol)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "the server")
    yield port
    server.should_exit = True
    thread.join(10)


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed `sock`: EOF once whatever it answered is read."""
    try:
        while chunk := sock.recv(65536):
            del chunk
    except BlockingIOError:
        return False
    return True


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and sends nothing
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # a head that never ends
        b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",  # a body that stops
    ],
)
def test_a_request_that_never_arrives_whole_is_closed(bounded: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", bounded)) as sock:
        sock.sendall(sent)
        sock.setblocking(False)
        wait_for(lambda: _closed(sock), 20, "the server closing the connection")


def test_whole_requests_on_a_kept_alive_connection_are_answered(bounded: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{bounded}") as client:
        for _ in range(3):  # one connection, kept alive across requests
            assert client.get("/api/health").status_code == 200
