"""``GET /api/health``: the service and each camera's state."""

from __future__ import annotations

import time

from fastapi import APIRouter

from vigil import __version__
from vigil.api.deps import ServicesDep
from vigil.api.schemas import CameraHealth, Health
from vigil.camera.state import State

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health")
def health(services: ServicesDep) -> Health:
    """Service status: ``ok`` when every enabled camera streams, else ``degraded``."""
    cameras = {}
    ok = True
    for status in services.manager.statuses():
        cameras[status.name] = CameraHealth.model_validate(status)
        if status.enabled and status.state is not State.STREAMING:
            ok = False
    return Health(
        status="ok" if ok else "degraded",
        version=__version__,
        uptime=round(time.monotonic() - services.started, 1),
        cameras=cameras,
    )
