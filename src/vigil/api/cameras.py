"""``/api/cameras``: the cameras, their live figures, and changes to them.

Changes (POST, PUT, DELETE) go through :class:`~vigil.camera.changes.CameraChanges`: the
body is validated as part of the whole config (errors with ``check-config``'s codes and
paths), written back to the config file, then applied to that one camera.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel

from vigil.api.deps import CameraPath, ChangesDep, ManagerDep
from vigil.api.errors import ApiError
from vigil.api.guard import AdminDep, UserDep, audit, require_camera
from vigil.api.schemas import CAMERA_BODY, CameraList, CameraOut, camera_out, error_responses
from vigil.config import format_path
from vigil.const import CAMERA_NAME_PATTERN
from vigil.errors import FieldError

router = APIRouter(
    prefix="/api/cameras",
    tags=["cameras"],
    responses=error_responses(404, 422),
)


@router.get("")
def list_cameras(manager: ManagerDep, user: UserDep) -> CameraList:
    """The cameras you may see, with their state, inputs and figures (never a password)."""
    statuses = [s for s in manager.statuses() if user.sees(s.name)]
    return CameraList(cameras=[camera_out(manager, s) for s in statuses])


@router.get("/{name}")
def get_camera(name: CameraPath, manager: ManagerDep, user: UserDep) -> CameraOut:
    """One camera; 404 with E601 if there is none of that name."""
    status = manager.status(name)
    require_camera(user, name)
    return camera_out(manager, status)


def literal_values(fields: Any, loc: tuple[int | str, ...] = ()) -> None:
    """422 (E602, each field E618) for a ``${...}`` anywhere in a body: API values are taken
    as sent, never expanded (they would reach the environment's secrets)."""
    bad = [format_path(path) for path in _variables(fields, loc)]
    if bad:
        raise ApiError(
            "${...} is not expanded in values sent through the API",
            code="E602",
            errors=[FieldError(path, "E618", "send the value itself") for path in bad],
        )


def _variables(value: Any, loc: tuple[int | str, ...]) -> list[tuple[int | str, ...]]:
    if isinstance(value, str):
        return [loc] if "${" in value else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    found = []
    for key, item in items:
        if isinstance(key, str) and "${" in key:
            found.append((*loc, key))
        found.extend(_variables(item, (*loc, key)))
    return found


CameraBody = Annotated[dict[str, Any], Body(openapi_examples=CAMERA_BODY.examples)]


@router.post(
    "",
    status_code=201,
    openapi_extra=CAMERA_BODY.openapi("with `name`"),
    responses=error_responses(403, 409),
)
def add_camera(
    body: CameraBody, changes: ChangesDep, manager: ManagerDep, admin: AdminDep, request: Request
) -> CameraOut:
    """Add a camera: `name` plus the camera's config fields (as in the config file).

    It starts at once and is written to the config file. 409 (E603) if the name is taken,
    422 (E602, with check-config's codes and paths in `errors`) if a field is bad, 403
    (E608) for a local source. Admins only."""
    fields = dict(body)
    name = fields.pop("name", None)
    if not isinstance(name, str) or not re.fullmatch(CAMERA_NAME_PATTERN, name):
        error = FieldError("name", "E114" if name is not None else "E104", "a camera name")
        raise ApiError("the camera needs a valid name", code="E602", errors=[error])
    literal_values(fields, ("cameras", name))
    changes.add(name, fields)
    audit(request, admin, "camera-add", name)
    return camera_out(manager, manager.status(name))


@router.put(
    "/{name}", openapi_extra=CAMERA_BODY.openapi("without `name`"), responses=error_responses(403)
)
def replace_camera(
    name: CameraPath,
    body: CameraBody,
    changes: ChangesDep,
    manager: ManagerDep,
    admin: AdminDep,
    request: Request,
) -> CameraOut:
    """Replace the camera's config (restarting only this camera); written to the file.

    A missing `password` keeps the stored one, and so does a URL sent back as `GET` shows it
    (credentials redacted), unless the input's scheme, host or port changed: then the
    stored password is dropped, so it is never sent to a new host. Admins only."""
    manager.config(name)  # 404 (E601) first
    fields = dict(body)
    if fields.pop("name", name) != name:
        error = FieldError("name", "E103", "a PUT can't rename: POST the new name, DELETE the old")
        raise ApiError("the name in the body differs", code="E602", errors=[error])
    literal_values(fields, ("cameras", name))
    changes.replace(name, fields)
    audit(request, admin, "camera-change", name)
    return camera_out(manager, manager.status(name))


@router.delete("/{name}", status_code=204)
def delete_camera(
    name: CameraPath, changes: ChangesDep, admin: AdminDep, request: Request
) -> Response:
    """Stop and remove the camera, and remove it from the config file. Its recordings stay."""
    changes.remove(name)
    audit(request, admin, "camera-remove", name)
    return Response(status_code=204)


@router.post("/{name}/start")
def start_camera(
    name: CameraPath, manager: ManagerDep, admin: AdminDep, request: Request
) -> CameraOut:
    """Start a stopped camera (until the service restarts; the config's `enabled` decides
    then)."""
    manager.start_camera(name)
    audit(request, admin, "camera-start", name)
    return camera_out(manager, manager.status(name))


@router.post("/{name}/stop")
def stop_camera(
    name: CameraPath, manager: ManagerDep, admin: AdminDep, request: Request
) -> CameraOut:
    """Stop a camera: its segment is closed, its inputs disconnect."""
    manager.stop_camera(name)
    audit(request, admin, "camera-stop", name)
    return camera_out(manager, manager.status(name))


class EventOut(BaseModel):
    camera: str
    start: datetime
    end: datetime


@router.post("/{name}/events", status_code=202, responses=error_responses(409))
def trigger_event(name: CameraPath, manager: ManagerDep, admin: AdminDep) -> EventOut:
    """An outside trigger (a doorbell, an alarm panel, Home Assistant): the footage from
    ``pre_seconds`` before to ``post_seconds`` after now is marked as holding an event, or,
    with ``record.mode: events``, recorded."""
    start, end = manager.trigger_event(name, time.time())
    return EventOut(
        camera=name,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
    )
