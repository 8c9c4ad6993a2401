"""``vigil run``: load the config, build the manager and serve the API until signalled."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn

from vigil.api.app import create_app
from vigil.camera.manager import CameraManager
from vigil.config_file import ConfigFile
from vigil.const import SHUTDOWN_TIMEOUT

_log = logging.getLogger(__name__)


def serve(config_path: Path) -> int:
    """Run the service; SIGINT/SIGTERM stop cameras and the server within 10 s."""
    config_file = ConfigFile(config_path)
    config = config_file.load()
    if config.server.nice:
        os.nice(config.server.nice)  # before any thread starts, so every thread inherits it
    manager = CameraManager(config.cameras)
    app = create_app(manager, config_file)
    server = uvicorn.Server(
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
        len(config.cameras), config.server.host, config.server.port,
    )
    server.run()
    return 0
