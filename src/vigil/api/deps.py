"""Dependencies shared by every router: the current user and the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from vigil.camera.manager import CameraManager


@dataclass(frozen=True, slots=True)
class User:
    name: str


ANONYMOUS = User("anonymous")


async def current_user(request: Request) -> User:
    """Everyone is let in until the auth work lands; then only this function changes."""
    return ANONYMOUS


def get_manager(request: Request) -> CameraManager:
    manager: CameraManager = request.app.state.manager
    return manager


ManagerDep = Annotated[CameraManager, Depends(get_manager)]
