"""The app factory: a lifespan that starts and stops the camera manager, and the routers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from vigil import __version__, web
from vigil.api import (
    audit,
    auth,
    cameras,
    docs,
    events,
    health,
    live,
    metrics,
    pages,
    recordings,
    system,
    webrtc,
)
from vigil.api.errors import install_error_handlers
from vigil.api.guard import current_user, public_check
from vigil.api.policy import HttpPolicy
from vigil.api.schemas import CameraIn, error_responses
from vigil.api.services import Services, ViewerSlots
from vigil.api.shield import Shield
from vigil.auth import Access
from vigil.camera.cameras import Cameras
from vigil.camera.changes import CameraChanges, stored_fields
from vigil.camera.webrtc import LocalWebRtc
from vigil.config.file import ConfigFile
from vigil.errors import VigilError
from vigil.recording.export import clear_exports
from vigil.recording.retention import Retention
from vigil.streaming.webrtc import WebRtcSessions

# no user needed: the login, the health's bare status, and / (which sends anyone else to
# the login page)
PUBLIC_ROUTERS = (health.router, auth.public_router, pages.router, web.public_router)
ROUTERS = (  # everything else: current_user refuses anyone unknown
    auth.router,
    audit.router,
    cameras.router,
    live.router,
    webrtc.router,
    recordings.router,
    recordings.export_router,
    events.router,
    metrics.router,
    system.router,
    docs.router,
    web.router,
)


def create_app(
    manager: Cameras,
    config_file: ConfigFile | None = None,
    retention: Retention | None = None,
    ice_servers: list[str] | None = None,
    *,
    access: Access | None = None,
    policy: HttpPolicy | None = None,
    mjpeg_max_viewers: int = 64,
    webrtc_addresses: list[str] | None = None,
    storage_error: VigilError | None = None,
) -> FastAPI:
    """Build the app around `manager`; the lifespan starts it and stops it on shutdown.

    With no `access` every request is :data:`~vigil.auth.LOCAL` (``auth.enabled: false``,
    which the config allows on a loopback address only). On shutdown the cameras stop first
    (recorders close their segments), then the index.
    """
    if config_file is None:  # no file to write back to: changes live in memory
        config_file = ConfigFile.in_memory(
            {"cameras": {n: stored_fields(manager.config(n)) for n in manager.names()}}
        )
    sessions = WebRtcSessions(ice_servers, addresses=webrtc_addresses)
    services = Services(
        manager=manager,
        changes=CameraChanges(manager, config_file),
        webrtc=sessions,
        rtc=manager.webrtc or LocalWebRtc(manager.local, sessions),
        started=time.monotonic(),
        access=access,
        policy=policy or HttpPolicy(),
        mjpeg_slots=ViewerSlots(mjpeg_max_viewers),
        storage_error=storage_error.detail() if storage_error is not None else None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manager.recording is not None:
            clear_exports(manager.recording.root)
        services.exports = ThreadPoolExecutor(
            recordings.EXPORT_WORKERS, thread_name_prefix="vigil-export"
        )
        await asyncio.to_thread(manager.start)
        if retention is not None:
            retention.start()
        pruning = asyncio.create_task(_prune(access)) if access is not None else None
        try:
            yield
        finally:
            if pruning is not None:
                pruning.cancel()
            await services.rtc.close_all()
            await asyncio.to_thread(manager.shutdown)
            if retention is not None:
                await asyncio.to_thread(retention.stop)
            services.exports.shutdown(wait=True, cancel_futures=True)
            if manager.recording is not None:
                manager.recording.index.close()

    app = FastAPI(
        title="vigil",
        version=__version__,
        lifespan=lifespan,
        description="The vigil camera system's API; a walk-through with curl is in docs/api.md.",
        docs_url=None,  # served behind the access check, from a package (vigil.api.docs)
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for public in PUBLIC_ROUTERS:
        app.include_router(public, dependencies=[Depends(public_check)])
    for router in ROUTERS:  # the one place routes get their access check
        app.include_router(
            router, dependencies=[Depends(current_user)], responses=error_responses(401, 403)
        )
    app.add_middleware(Shield, policy=services.policy)
    return app


PRUNE_EVERY = 3600.0  # seconds between sweeps of expired sessions and old audit entries


async def _prune(access: Access) -> None:
    while True:
        await asyncio.sleep(PRUNE_EVERY)
        await asyncio.to_thread(access.prune)


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
