"""Company defaults: read and change (ADMIN of the company, SYSTEM)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import require_role
from wallet_service.companies import repository
from wallet_service.companies.schemas import CompanyDefaults, UpdateDefaults
from wallet_service.db.pool import Database
from wallet_service.errors import Forbidden


def _ensure_company_admin(caller: Caller, company_id: UUID) -> None:
    require_role(caller, Role.ADMIN, Role.SYSTEM)
    if caller.role is Role.ADMIN and caller.company_id != company_id:
        raise Forbidden("an ADMIN may only see and change the defaults of their own company")


async def defaults_for(conn: asyncpg.Connection, company_id: UUID) -> CompanyDefaults:
    """The company's defaults, or the contract's: a USD wallet with 0.00 and no budgets."""
    row = await repository.get(conn, company_id)
    return CompanyDefaults.model_validate(row) if row else CompanyDefaults(company_id=company_id)


async def get_defaults(db: Database, caller: Caller, company_id: UUID) -> CompanyDefaults:
    _ensure_company_admin(caller, company_id)
    async with db.connection() as conn:
        return await defaults_for(conn, company_id)


async def update_defaults(
    db: Database, caller: Caller, company_id: UUID, cmd: UpdateDefaults, idem_key: str | None
) -> tuple[int, dict[str, object]]:
    _ensure_company_admin(caller, company_id)
    changes = cmd.model_dump(mode="json", exclude_none=True)
    idem = idempotency.keyed(caller, idem_key, "PUT", f"/companies/{company_id}/defaults", changes)
    if "initial_balance" in changes:
        changes["initial_balance"] = cmd.initial_balance
    async with db.transaction() as conn:
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        row = await repository.upsert(conn, company_id, changes, caller.sub)
        body = CompanyDefaults.model_validate(row).model_dump(mode="json")
        await idempotency.remember(conn, idem, 200, body)
    return 200, body
