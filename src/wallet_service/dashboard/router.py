"""HTTP: the manager dashboard. GET /dashboard is the page (no data: the token lives in the
browser's session storage, never in a cookie); its script fetches GET /dashboard/overview with
the token as a bearer header and shows the HTML the server rendered for that token's scope.
Everything is served from this package, under a strict Content-Security-Policy: scripts and
styles from this origin only, none inline."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from wallet_service.dashboard import service
from wallet_service.deps import CallerDep, DbDep
from wallet_service.errors import NotFound
from wallet_service.wire import ExactJsonRoute

_HERE = Path(str(files("wallet_service.dashboard")))
_templates = Jinja2Templates(directory=_HERE / "templates")
_STATIC = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "chart.umd.min.js": "text/javascript",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/dashboard", include_in_schema=False, route_class=ExactJsonRoute)


@router.get("")
async def page(request: Request) -> HTMLResponse:
    """The page: sign-in by pasting a token, then the overview."""
    return _templates.TemplateResponse(request, "page.html", headers=_HEADERS)


@router.get("/overview")
async def overview(request: Request, caller: CallerDep, db: DbDep) -> HTMLResponse:
    """The overview of the caller's scope as an HTML fragment (MANAGER, ADMIN)."""
    data = await service.overview(db, caller)
    return _templates.TemplateResponse(request, "overview.html", {"o": data}, headers=_HEADERS)


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    """The page's own script, style sheet and chart library (a fixed list of files)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(
        _HERE / "static" / name,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
    )
