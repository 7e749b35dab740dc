"""HTTP: /companies/{companyId}/defaults."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wallet_service.companies import service
from wallet_service.companies.schemas import CompanyDefaults, UpdateDefaults
from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.wire import ExactJsonRoute

router = APIRouter(prefix="/companies", tags=["companies"], route_class=ExactJsonRoute)


@router.get("/{companyId}/defaults", response_model=CompanyDefaults)
async def get_defaults(companyId: UUID, caller: CallerDep, db: DbDep) -> CompanyDefaults:
    """What a new user of the company gets on UserCreated (ADMIN of the company, SYSTEM)."""
    return await service.get_defaults(db, caller, companyId)


@router.put("/{companyId}/defaults", response_model=CompanyDefaults)
async def put_defaults(
    companyId: UUID,
    body: UpdateDefaults,
    caller: CallerDep,
    db: DbDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Change the company's defaults; fields left out keep their value."""
    status, payload = await service.update_defaults(db, caller, companyId, body, idempotency_key)
    return JSONResponse(payload, status_code=status)
