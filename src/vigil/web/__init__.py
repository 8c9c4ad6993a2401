"""The web page: static files (no build step, no CDN), served by the same process at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from vigil.api.deps import current_user

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_user)])


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})
