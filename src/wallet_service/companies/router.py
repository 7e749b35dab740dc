"""HTTP: /companies/{companyId}/defaults."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from wallet_service.companies import service
from wallet_service.companies.schemas import CompanyDefaults, UpdateDefaults
from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wire import ExactJsonRoute

router = APIRouter(
    prefix="/companies", tags=["companies"], responses=AUTHENTICATED, route_class=ExactJsonRoute
)


@router.get("/{companyId}/defaults", responses=errors_for(403))
async def get_company_defaults(companyId: UUID, caller: CallerDep, db: DbDep) -> CompanyDefaults:
    """What a new user of the company gets on UserCreated (ADMIN of the company, SYSTEM)."""
    return await service.get_defaults(db, caller, companyId)


@router.put(
    "/{companyId}/defaults",
    responses=errors_for(403, 409, codes={409: "IDEMPOTENCY_KEY_REUSED"}),
)
async def update_company_defaults(
    companyId: UUID,
    body: UpdateDefaults,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CompanyDefaults:
    """Change the company's defaults; fields left out keep their value."""
    status, payload = await service.update_defaults(db, caller, companyId, body, idempotency_key)
    response.status_code = status
    return CompanyDefaults.model_validate(payload)
