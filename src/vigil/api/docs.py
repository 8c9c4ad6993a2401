"""``/docs`` and ``/openapi.json``, behind the access check like every route. Swagger UI
comes from the swagger-ui-bundle package, never a CDN, and starts from a script file (the
CSP allows no inline script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

router = APIRouter(include_in_schema=False)
_BUNDLE = Path(swagger_ui_path)
ASSETS = {
    "swagger-ui-bundle.js": (_BUNDLE / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_BUNDLE / "swagger-ui.css", "text/css"),
    "init.js": (Path(__file__).parent / "docs_init.js", "text/javascript"),
}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vigil API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script>
</body></html>"""


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/{asset}")
def docs_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise HTTPException(404, f"no file {asset!r}")
    path, media_type = ASSETS[asset]
    return FileResponse(path, media_type=media_type)
