"""HTTP: /health, /ready, /metrics (no authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wallet_service.errors import AppError
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["operations"], route_class=ExactJsonRoute)


@router.get("/health")
async def health() -> dict[str, str]:
    """200 while the process lives."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """200 when every configured dependency answers, else 503 naming what failed."""
    checks: dict[str, Any] = {}
    for name, probe in request.app.state.readiness_probes.items():
        try:
            await probe()
            checks[name] = "ok"
        except AppError as exc:
            checks[name] = exc.detail
        except Exception as exc:  # a probe must never crash readiness
            checks[name] = f"{type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
