"""``vigil run``: load the config, build the manager and serve the API until signalled."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from vigil.api.app import create_app
from vigil.camera.manager import CameraManager
from vigil.config import VigilConfig
from vigil.config.file import ConfigFile
from vigil.const import SHUTDOWN_TIMEOUT
from vigil.recording.recorder import RecordingContext
from vigil.recording.recovery import reconcile
from vigil.recording.retention import Retention
from vigil.storage.filesystem import filesystem_type, is_network
from vigil.storage.index import Index

_log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, but SIGTERM/SIGINT are a normal stop: exit 0, signal not re-raised."""

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


def serve(config_path: Path) -> int:
    """Run the service; SIGINT/SIGTERM stop cameras and the server within 10 s."""
    config_file = ConfigFile(config_path)
    config = config_file.load()
    apply_nice(config)
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
    result = reconcile(root, index)
    _log.info(
        "storage %s: %d segment(s) indexed; recovered %d, quarantined %d after the last run",
        root,
        index.count(),
        result.recovered,
        result.quarantined,
    )
    retention = Retention(root, index, config)
    context = RecordingContext(root, index, on_disk_full=retention.trigger)
    manager = CameraManager(config.cameras, recording=context, governor=config.governor)
    app = create_app(manager, config_file, retention, config.server.webrtc_ice_servers)
    server = _Server(
        uvicorn.Config(
            app,
            host=config.server.host,
            port=config.server.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT // 2),
        )
    )
    _log.info(
        "vigil serving %d camera(s) on http://%s:%d",
        len(config.cameras),
        config.server.host,
        config.server.port,
    )
    server.run()
    _log.info("vigil stopped")
    return 0
