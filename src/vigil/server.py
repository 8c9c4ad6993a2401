"""``vigil run``: load the config, build the manager and serve the API until signalled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from vigil.api.app import create_app
from vigil.api.policy import HttpPolicy
from vigil.api.protocol import http_options
from vigil.auth import Access, AuthSettings
from vigil.auth.store import AuthStore
from vigil.camera.cameras import Cameras
from vigil.camera.manager import CameraManager
from vigil.camera.worker import HeldFd, WorkerSettings
from vigil.camera.workers import WorkerPool
from vigil.config import VigilConfig
from vigil.config.file import ConfigFile
from vigil.const import SHUTDOWN_TIMEOUT
from vigil.errors import StorageError
from vigil.malloc import limit_arenas
from vigil.recording.recorder import RecordingContext
from vigil.recording.recovery import reconcile
from vigil.recording.retention import Retention
from vigil.storage.filesystem import filesystem_type, is_network
from vigil.storage.identity import check_storage
from vigil.storage.index import Index
from vigil.storage.lock import InstanceLock
from vigil.streaming.webrtc.interfaces import media_addresses

_log = logging.getLogger(__name__)


TICK = 1.0  # seconds between uvicorn's housekeeping ticks (its own: 0.1)


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT are a normal stop: exit 0, signal not re-raised;
    and its housekeeping (the Date header, the exit check) ticks once a second, not ten
    times: a server with nothing to do should not wake up to find that out."""

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # every tick is a whole second to on_tick
            await asyncio.sleep(TICK)
            should_exit = await self.on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def apply_nice(config: VigilConfig) -> None:
    """`server.nice`: lower the whole process's priority, the seed plan's ``renice`` done
    from inside. Called before any thread starts, so every thread inherits it (a thread
    that already runs keeps its own value on Linux)."""
    if config.server.nice:
        os.nice(config.server.nice)


UMASK = 0o027  # recordings 0640 in 0750 folders; the config and the database are made 0600


def serve(config_path: Path, login_link: bool = False) -> int:
    """Run the service; SIGINT/SIGTERM stop cameras and the server within 10 s.

    `login_link` prints a one-time login link for ``admin`` at every start (``vigil demo``);
    otherwise one is printed only at the first start, with the new admin's password."""
    os.umask(UMASK)
    limit_arenas()  # before any thread: a long run's RSS stays flat (vigil.malloc)
    config_file = ConfigFile(config_path)
    config = config_file.load()
    apply_nice(config)
    if not config.server.loopback:
        _log.warning(
            "vigil listens on %s, beyond this machine: read docs/security.md before exposing "
            "it (TLS, a proxy, allowed_hosts)",
            config.server.host,
        )
    try:
        lock = InstanceLock([Path(config.storage.path), config.storage.database.parent])
    except StorageError as err:
        _log.error("%s", err)
        return 1
    index, context, retention, refused = _storage(config)
    manager = cameras(config, context, retention, lock)
    if retention is not None:
        retention.cameras = manager.configs  # cameras added or changed through the API too
    access = _access(config, index, login_link)
    app = create_app(
        manager,
        config_file,
        retention,
        config.server.webrtc_ice_servers,
        access=access,
        policy=HttpPolicy.of(config.server),
        mjpeg_max_viewers=config.server.mjpeg_max_viewers,
        webrtc_addresses=media_addresses(config.server.host, config.server.webrtc_interfaces),
        storage_error=refused,
    )
    tls = config.server.tls
    server = _Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT // 2),
            ssl_certfile=tls.cert,
            ssl_keyfile=tls.key,
            # slow clients: a request must arrive whole within 20 s (BoundedH11Protocol), idle
            # keep-alives end after 5 s, and a head is at most 16 KiB
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024,
            limit_concurrency=1000,
            **http_options(),
        )
    )
    _log.info(
        "vigil serving %d camera(s) on %s",
        len(config.cameras),
        base_url(config),
    )
    server.run()
    lock.release()
    _log.info("vigil stopped")
    return 0


def cameras(
    config: VigilConfig,
    context: RecordingContext | None,
    retention: Retention | None,
    lock: InstanceLock,
) -> Cameras:
    """Every camera in this process (``server.workers: 1``), or spread over workers."""
    workers = config.server.worker_count
    if workers == 1:
        return CameraManager(
            config.cameras,
            recording=context,
            governor=config.governor,
            camera_networks=config.server.camera_networks,
        )
    _log.info("cameras run in %d worker processes", workers)
    addresses = media_addresses(config.server.host, config.server.webrtc_interfaces)
    settings = WorkerSettings(
        number=0,
        storage_root=context.root if context is not None else None,
        database=Path(config.storage.database) if context is not None else None,
        governor=config.governor,
        camera_networks=tuple(config.server.camera_networks),
        log_level=logging.getLogger().level,
        held=tuple(HeldFd(fd) for fd in lock.fds),
        webrtc_ice_servers=tuple(config.server.webrtc_ice_servers),
        webrtc_addresses=None if addresses is None else tuple(addresses),
    )
    return WorkerPool(
        config.cameras,
        settings,
        workers=workers,
        recording=context,
        on_disk_full=retention.trigger if retention is not None else None,
    )


def _storage(
    config: VigilConfig,
) -> tuple[Index, RecordingContext | None, Retention | None, StorageError | None]:
    """The index, and where footage goes: checked to be the storage the index describes
    (else nothing is recorded, retention doesn't run, the index is left as it is, and the
    error is returned for the health), then reconciled after the last run."""
    root = Path(config.storage.path)
    db_path = Path(config.storage.database)
    if is_network(db_path.parent):
        _log.warning(
            "[E406] the database %s is on a network filesystem (%s); SQLite's locking is "
            "unreliable there: set storage.db_path to a local disk",
            db_path,
            filesystem_type(db_path.parent),
        )
    index = Index(db_path)
    private(db_path)
    refused = check_storage(root, index)
    if refused is not None:
        _log.error("%s; recording is off until it is fixed and vigil restarts", refused)
        return index, None, None, refused
    result = reconcile(root, index)
    _log.info(
        "storage %s: %d segment(s) indexed; recovered %d, quarantined %d, missing %d "
        "after the last run",
        root,
        index.count(),
        result.recovered,
        result.quarantined,
        result.missing,
    )
    retention = Retention(root, index, config)
    return index, RecordingContext(root, index, on_disk_full=retention.trigger), retention, None


def base_url(config: VigilConfig) -> str:
    scheme = "https" if config.server.tls.cert else "http"
    host = config.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{config.server.port}"


def private(db_path: Path) -> None:
    """The database and its WAL hold password hashes and session digests: owner only."""
    for path in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            path.chmod(0o600)


def _access(config: VigilConfig, index: Index, login_link: bool) -> Access | None:
    """The auth of the service (None with ``auth.enabled: false``); at the first start an
    ``admin`` with a random password, printed once to stderr with a one-time login link."""
    if not config.auth.enabled:
        _log.warning("auth is off (auth.enabled: false): anyone on this machine is admin")
        return None
    auth = config.auth
    access = Access(
        AuthStore(index.engine),
        AuthSettings(
            idle_seconds=auth.session_idle_hours * 3600,
            max_seconds=auth.session_max_days * 86400,
            audit_days=auth.audit_days,
        ),
    )
    access.prune()
    first = access.first_start()
    link = first[1] if first else None
    if link is None and login_link and access.store.user("admin") is not None:
        link = access.create_token("login link", "admin", login_link=True)[1]
    if first is not None:
        print(
            f"vigil: created user admin with password {first[0]}\n"
            "       (shown this once; change it with `vigil user passwd admin`)",
            file=sys.stderr,
            flush=True,
        )
    if link is not None:
        print(
            f"vigil: log in once at {base_url(config)}/api/auth/link?token={link}",
            file=sys.stderr,
            flush=True,
        )
    return access
