"""ReDoc without a request leaving the machine. fastapi-offline ships the standalone bundle, but that
bundle draws the "API docs by Redocly" logo from cdn.redoc.ly whatever its options; the copy served
here has that one address emptied (the image then hides itself, as it does when offline)."""

from __future__ import annotations

import functools
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
BUNDLE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
REMOTE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def offline_bundle() -> bytes:
    return BUNDLE.read_bytes().replace(REMOTE_LOGO, b"")


@router.get("/static/redoc/redoc.standalone.js")
def redoc_bundle() -> Response:
    return Response(offline_bundle(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc of the service's OpenAPI document, from the packaged bundle only."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}/static/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/api-docs/favicon.png",
        with_google_fonts=False,
    )
