"""``/api/cameras``: the cameras and their live figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

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
