"""Transfers between two wallets of one company: who may move money; the engine writes both
legs."""

from __future__ import annotations

from typing import Any

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import ensure_can_manage, require_role
from wallet_service.errors import WalletNotFound
from wallet_service.ledger.engine import Ledger, posting
from wallet_service.ledger.schemas import CreateTransfer
from wallet_service.wallets import repository as wallets


async def transfer(
    ledger: Ledger, caller: Caller, cmd: CreateTransfer, idem_key: str | None
) -> dict[str, Any]:
    """POST /transfers: ADMIN (company), MANAGER (both wallets in their team scope), SYSTEM.

    Scope is checked here on the wallets' owners; the engine then re-checks that both
    wallets belong to the caller's company (non-SYSTEM) while it holds their locks, and refuses a
    SYSTEM transfer between two companies."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    idem = idempotency.keyed(caller, idem_key, "POST", "/transfers", cmd.model_dump(mode="json"))
    async with ledger.db.connection() as conn:
        for wallet_id in (cmd.from_wallet_id, cmd.to_wallet_id):
            not_found = WalletNotFound(f"no wallet {wallet_id}")
            owner = await wallets.get_owner(conn, wallet_id)
            if owner is None:
                raise not_found
            ensure_can_manage(caller, owner, not_found)
    p = posting(
        "TRANSFER",
        caller,
        idem,
        wallet_id=cmd.from_wallet_id,
        to_wallet_id=cmd.to_wallet_id,
        amount=cmd.amount,
        description=cmd.description,
        reference_id=cmd.reference_id,
        company_id=caller.company_id if caller.role is not Role.SYSTEM else None,
    )
    return (await ledger.post(p)).result()
