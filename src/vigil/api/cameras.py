"""``/api/cameras``: the cameras and their live figures."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from vigil.api.deps import ManagerDep, current_user
from vigil.api.schemas import CameraList, CameraOut
from vigil.const import CAMERA_NAME_PATTERN

CameraPath = Annotated[str, Path(pattern=CAMERA_NAME_PATTERN, description="camera name")]

router = APIRouter(prefix="/api/cameras", tags=["cameras"], dependencies=[Depends(current_user)])


@router.get("")
def list_cameras(manager: ManagerDep) -> CameraList:
    """Every camera with its state, inputs and figures (never a password)."""
    return CameraList(cameras=[CameraOut.model_validate(s) for s in manager.statuses()])


@router.get("/{name}")
def get_camera(name: CameraPath, manager: ManagerDep) -> CameraOut:
    """One camera; 404 with E601 if there is none of that name."""
    return CameraOut.model_validate(manager.status(name))


class EventOut(BaseModel):
    camera: str
    start: datetime
    end: datetime


@router.post("/{name}/events", status_code=202)
def trigger_event(name: CameraPath, manager: ManagerDep) -> EventOut:
    """An outside trigger (a doorbell, an alarm panel, Home Assistant): the footage from
    ``pre_seconds`` before to ``post_seconds`` after now is marked as holding an event, or,
    with ``record.mode: events``, recorded."""
    start, end = manager.get(name).trigger_event(time.time())
    return EventOut(
        camera=name,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
    )
