"""Wallet commands and queries, with their scope rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import Owner, ensure_can_manage, ensure_can_read, require_role
from wallet_service.db.pool import Database
from wallet_service.errors import UserNotFound, WalletExists, WalletNotFound
from wallet_service.events import outbox
from wallet_service.ledger.engine import apply_in, posting
from wallet_service.money import format_amount
from wallet_service.users import repository as users
from wallet_service.users import service as user_directory
from wallet_service.wallets import repository
from wallet_service.wallets.rules import check_transition
from wallet_service.wallets.schemas import ChangeStatus, CreateWallet, WalletStatus

INITIAL_BALANCE_REFERENCE = "INITIAL_BALANCE"


async def open_wallet(
    conn: asyncpg.Connection, owner: Owner, currency: str, initial_balance: Decimal
) -> dict[str, Any]:
    """Create the owner's wallet inside the caller's transaction: the wallet row, its
    WalletCreated event and, when there is one, the initial balance as a CREDIT entry (so the
    balance always equals the sum of the entries)."""
    if await repository.get_by_user(conn, owner.user_id) is not None:
        raise WalletExists(f"user {owner.user_id} already has a wallet")
    wallet = await repository.insert(
        conn, company_id=owner.company_id, user_id=owner.user_id, currency=currency
    )
    await outbox.emit(
        conn,
        "WalletCreated",
        {
            "wallet_id": wallet["wallet_id"],
            "user_id": wallet["user_id"],
            "initial_balance": format_amount(initial_balance),
            "currency": currency,
        },
        company_id=owner.company_id,
        wallet_id=UUID(wallet["wallet_id"]),
        wallet_version=wallet["version"],
    )
    if initial_balance > 0:
        (outcome,) = await apply_in(
            conn,
            [
                posting(
                    "CREDIT",
                    None,
                    wallet_id=wallet["wallet_id"],
                    amount=initial_balance,
                    description="Initial balance",
                    reference_type=INITIAL_BALANCE_REFERENCE,
                )
            ],
        )
        outcome.result()
        refreshed = await repository.get_by_id(conn, UUID(wallet["wallet_id"]))
        assert refreshed is not None
        wallet = refreshed[0]
    return wallet


async def create_wallet(
    db: Database, caller: Caller, cmd: CreateWallet, idem_key: str | None
) -> tuple[int, dict[str, Any]]:
    """POST /wallets: ADMIN (company), MANAGER (their team), SYSTEM."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    idem = idempotency.keyed(caller, idem_key, "POST", "/wallets", cmd.model_dump(mode="json"))
    # a user unknown here may be known to the user service: ask before the transaction opens
    remote = await user_directory.look_up(db, cmd.user_id)
    async with db.transaction() as conn:
        owner = await users.get_owner(conn, cmd.user_id)
        if owner is None and remote is not None:
            owner = await user_directory.remember(conn, remote)
        not_found = UserNotFound(
            f"no user {cmd.user_id}; users are registered by the UserCreated event"
        )
        if owner is None:
            raise not_found
        ensure_can_manage(caller, owner, not_found)
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        wallet = await open_wallet(conn, owner, cmd.currency.value, cmd.initial_balance)
        await idempotency.remember(conn, idem, 201, wallet)
    return 201, wallet


async def get_wallet(db: Database, caller: Caller, user_id: UUID) -> dict[str, Any]:
    """GET /wallets/{userId}: the user's wallet, within the caller's scope."""
    not_found = WalletNotFound(f"user {user_id} has no wallet")
    async with db.connection() as conn:
        found = await repository.get_by_user(conn, user_id)
    if found is None:
        raise not_found
    wallet, owner = found
    ensure_can_read(caller, owner, not_found)
    return wallet


async def list_wallets(
    db: Database, caller: Caller, *, page: int, limit: int, status: WalletStatus | None
) -> dict[str, Any]:
    """GET /wallets: MANAGER sees own and team, ADMIN their company, SYSTEM all."""
    require_role(caller, Role.MANAGER, Role.ADMIN, Role.SYSTEM)
    async with db.connection() as conn:
        rows, total = await repository.page(
            conn,
            company_id=caller.company_id,
            team_of=caller.sub if caller.role is Role.MANAGER else None,
            status=status.value if status else None,
            limit=limit,
            offset=(page - 1) * limit,
        )
    return {"wallets": rows, "pagination": {"page": page, "limit": limit, "total": total}}


async def change_status(
    db: Database, caller: Caller, wallet_id: UUID, cmd: ChangeStatus, idem_key: str | None
) -> tuple[int, dict[str, Any]]:
    """PUT /wallets/{walletId}/status: freeze, unfreeze or close (close needs a zero balance)."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    not_found = WalletNotFound(f"no wallet {wallet_id}")
    idem = idempotency.keyed(
        caller, idem_key, "PUT", f"/wallets/{wallet_id}/status", cmd.model_dump(mode="json")
    )
    async with db.transaction() as conn:
        owner = await repository.get_owner(conn, wallet_id)
        if owner is None:
            raise not_found
        ensure_can_manage(caller, owner, not_found)
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        current = await repository.lock(conn, wallet_id)
        assert current is not None
        old_status = WalletStatus(current["status"])
        if check_transition(old_status, cmd.status, current["balance"], current["held_amount"]):
            wallet = await repository.set_status(conn, wallet_id, cmd.status.value)
            await outbox.emit(
                conn,
                "WalletStatusChanged",
                {
                    "wallet_id": str(wallet_id),
                    "user_id": str(owner.user_id),
                    "old_status": old_status.value,
                    "new_status": cmd.status.value,
                    "reason": cmd.reason,
                    "changed_by": str(caller.sub),
                },
                company_id=owner.company_id,
                wallet_id=wallet_id,
                wallet_version=wallet["version"],
            )
        else:
            found = await repository.get_by_id(conn, wallet_id)
            assert found is not None
            wallet = found[0]
        await idempotency.remember(conn, idem, 200, wallet)
    return 200, wallet
