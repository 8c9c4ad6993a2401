"""The app factory: a lifespan that starts and stops the camera manager, and the routers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from pydantic.json_schema import models_json_schema

from vigil import __version__, web
from vigil.api import cameras, events, health, live, metrics, recordings, system, webrtc
from vigil.api.errors import install_error_handlers
from vigil.api.schemas import CameraIn
from vigil.camera.changes import CameraChanges, stored_fields
from vigil.camera.manager import CameraManager
from vigil.config.file import ConfigFile
from vigil.recording.export import clear_exports
from vigil.recording.retention import Retention
from vigil.streaming.webrtc import WebRtcSessions


def create_app(
    manager: CameraManager,
    config_file: ConfigFile | None = None,
    retention: Retention | None = None,
    ice_servers: list[str] | None = None,
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
            await app.state.webrtc.close_all()
            await asyncio.to_thread(manager.shutdown)
            if retention is not None:
                await asyncio.to_thread(retention.stop)
            app.state.export_executor.shutdown(wait=True, cancel_futures=True)
            if manager.recording is not None:
                manager.recording.index.close()

    app = FastAPI(
        title="vigil",
        version=__version__,
        lifespan=lifespan,
        description="The vigil camera system's API; a walk-through with curl is in docs/api.md.",
    )
    if config_file is None:  # no file to write back to: changes live in memory
        config_file = ConfigFile.in_memory(
            {"cameras": {n: stored_fields(manager.get(n).config) for n in manager.names()}}
        )
    app.state.manager = manager
    app.state.config_file = config_file
    app.state.changes = CameraChanges(manager, config_file)
    app.state.webrtc = WebRtcSessions(ice_servers)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.state.recording = manager.recording
    app.state.started = time.monotonic()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(cameras.router)
    app.include_router(live.router)
    app.include_router(webrtc.router)
    app.include_router(recordings.router)
    app.include_router(recordings.export_router)
    app.include_router(events.router)
    app.include_router(metrics.router)
    app.include_router(system.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the camera body (validated by hand, so declared by hand)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _, defs = models_json_schema(
            [(CameraIn, "validation")], ref_template="#/components/schemas/{model}"
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        for operations in schema["paths"].values():  # the declared body, not dict's schema
            for operation in operations.values():
                content = operation.get("requestBody", {}).get("content", {})
                body = content.get("application/json", {}).get("schema", {})
                if "$ref" in body:
                    content["application/json"]["schema"] = {"$ref": body["$ref"]}
        app.openapi_schema = schema
    return app.openapi_schema
