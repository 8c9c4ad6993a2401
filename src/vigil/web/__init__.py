"""The web page: static files (no build step, no CDN), served by the same process at ``/``.

Files are served by name from the set found at start (:data:`FILES`), never from a path a
request names. The login page and what it loads are public (:data:`public_router`); the
other files need a user, like every route (the app adds the check). ``/`` itself is served
by :mod:`vigil.api.pages`, which sends a caller without a session to the login page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()}
PUBLIC_FILES = ("login.js", "style.css")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)
public_router = APIRouter(include_in_schema=False)


def page_file(name: str) -> FileResponse:
    """One of the page's files, by name."""
    return _file(name)


def _file(name: str) -> FileResponse:
    path = FILES.get(name)
    if path is None:
        raise HTTPException(404, f"no file {name!r}")
    media_type = _TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}")
def static(
    name: Annotated[str, PathParam(pattern=r"^[a-z0-9_-]{1,64}\.[a-z]{1,4}$")],
) -> FileResponse:
    return _file(name)


@public_router.get("/login")
def login_page() -> FileResponse:
    return _file("login.html")


def _public(name: str) -> None:
    public_router.add_api_route(f"/static/{name}", lambda: _file(name), methods=["GET"])


for _name in PUBLIC_FILES:
    _public(_name)
