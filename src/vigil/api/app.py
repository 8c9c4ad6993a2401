"""The app factory: a lifespan that starts and stops the camera manager, and the routers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI

from vigil import __version__
from vigil.api import cameras, events, health, recordings
from vigil.api.errors import install_error_handlers
from vigil.camera.manager import CameraManager
from vigil.config_file import ConfigFile
from vigil.recording.export import clear_exports
from vigil.recording.retention import Retention


def create_app(
    manager: CameraManager,
    config_file: ConfigFile | None = None,
    retention: Retention | None = None,
) -> FastAPI:
    """Build the app around `manager`; the lifespan starts it and stops it on shutdown.

    On shutdown the cameras stop first (recorders close their segments), then the index.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manager.recording is not None:
            clear_exports(manager.recording.root)
        app.state.export_executor = ThreadPoolExecutor(
            recordings.EXPORT_WORKERS, thread_name_prefix="vigil-export"
        )
        await asyncio.to_thread(manager.start)
        if retention is not None:
            retention.start()
        try:
            yield
        finally:
            await asyncio.to_thread(manager.shutdown)
            if retention is not None:
                await asyncio.to_thread(retention.stop)
            app.state.export_executor.shutdown(wait=True, cancel_futures=True)
            if manager.recording is not None:
                manager.recording.index.close()

    app = FastAPI(title="vigil", version=__version__, lifespan=lifespan)
    app.state.manager = manager
    app.state.config_file = config_file
    app.state.recording = manager.recording
    app.state.started = time.monotonic()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(recordings.router)
    app.include_router(recordings.export_router)
    app.include_router(events.router)
    return app
