"""``GET /api/health``: the service and each camera's state.

It is public, for load balancers and uptime checks, but an anonymous caller learns only
``{"status": ...}``: the version, uptime and camera names need a user, and the cameras
listed are those the user may see.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from vigil import __version__
from vigil.api.deps import ServicesDep
from vigil.api.guard import identify
from vigil.api.schemas import CameraHealth, Health, HealthStatus
from vigil.camera.state import State

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
async def health(request: Request, services: ServicesDep) -> Health | HealthStatus:
    """Service status: ``ok`` when every enabled camera streams (and its recorder and
    detection had no error in the last minute), else ``degraded``;
    ``error`` when the storage was refused at start (E409: nothing is recorded). Without a
    user, only `status`."""
    statuses = services.manager.statuses()
    ok = all(s.state is State.STREAMING and s.last_error is None for s in statuses if s.enabled)
    status = "error" if services.storage_error else "ok" if ok else "degraded"
    user = await identify(request)
    if user is None:
        return HealthStatus(status=status)
    return Health(
        status=status,
        version=__version__,
        uptime=round(time.monotonic() - services.started, 1),
        cameras={s.name: CameraHealth.model_validate(s) for s in statuses if user.sees(s.name)},
        storage_error=services.storage_error,
    )
