"""HTTP: /health, /ready, /metrics (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from wallet_service.errors import AppError
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["operations"], route_class=ExactJsonRoute)


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(description="ready or unavailable", examples=["ready"])
    checks: dict[str, str] = Field(
        description="each dependency: ok, or what failed", examples=[{"database": "ok"}]
    )


@router.get("/health")
async def get_health() -> Health:
    """200 while the process lives."""
    return Health(status="ok")


@router.get(
    "/ready",
    responses={503: {"model": Readiness, "description": "a dependency does not answer"}},
)
async def get_readiness(request: Request, response: Response) -> Readiness:
    """200 when every configured dependency answers, else 503 naming what failed."""
    checks: dict[str, str] = {}
    for name, probe in request.app.state.readiness_probes.items():
        try:
            await probe()
            checks[name] = "ok"
        except AppError as exc:
            checks[name] = exc.detail
        except Exception as exc:  # a probe must never crash readiness
            checks[name] = f"{type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    return Readiness(status="ready" if ok else "unavailable", checks=checks)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
