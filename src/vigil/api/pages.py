"""``/``: the page for a user, the login page for anyone else (a browser's first visit, or a
session that ended), so nobody lands on a page of broken tiles."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from vigil.api.guard import identify
from vigil.web import page_file

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index(request: Request) -> Response:
    if await identify(request) is None:
        return RedirectResponse("/login", status_code=303)
    return page_file("index.html")
