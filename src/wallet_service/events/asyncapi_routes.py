"""HTTP: GET /asyncapi.json (no authentication, like /openapi.json)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wallet_service.events.asyncapi import document
from wallet_service.wire import ExactJsonRoute

router = APIRouter(route_class=ExactJsonRoute)


@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi() -> JSONResponse:
    """The AsyncAPI 3 document of every event published and consumed."""
    return JSONResponse(document())
