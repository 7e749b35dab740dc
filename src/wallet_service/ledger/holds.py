"""Holds (two-phase debits): place, capture, void, and the expiry job. SYSTEM only.

Each command is one call of a database function (ledger_hold, ledger_capture, ledger_void,
hold_expire_due) that locks the hold, then its wallet, then its budgets, so a hold is settled at
most once however the calls race."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import require_role
from wallet_service.db.pool import Database
from wallet_service.ledger import repository
from wallet_service.ledger.schemas import CaptureHold, CreateHold

#: Holds expired per database statement by the expiry job (bounds lock time and statement size).
EXPIRY_BATCH = 200


async def place_hold(
    db: Database, caller: Caller, wallet_id: UUID, cmd: CreateHold, idem_key: str | None
) -> dict[str, Any]:
    """Reserve cmd.amount on the wallet: available_balance drops now, balance at capture."""
    require_role(caller, Role.SYSTEM)
    idem = idempotency.keyed(
        caller, idem_key, "POST", f"/wallets/{wallet_id}/holds", cmd.model_dump(mode="json")
    )
    async with db.connection() as conn:
        return await repository.place_hold(
            conn,
            wallet_id=wallet_id,
            amount=cmd.amount,
            description=cmd.description,
            reference_id=cmd.reference_id,
            reference_type=cmd.reference_type,
            expires_at=cmd.expires_at,
            idem=idem,
        )


async def capture(
    db: Database, caller: Caller, txn_id: UUID, cmd: CaptureHold | None, idem_key: str | None
) -> dict[str, Any]:
    """Take all (default) or part of an open hold; the rest is released."""
    require_role(caller, Role.SYSTEM)
    cmd = cmd or CaptureHold()
    idem = idempotency.keyed(
        caller, idem_key, "POST", f"/transactions/{txn_id}/capture", cmd.model_dump(mode="json")
    )
    async with db.connection() as conn:
        return await repository.capture_hold(
            conn,
            txn_id=txn_id,
            amount=cmd.amount,
            idem=idem,
        )


async def void(db: Database, caller: Caller, txn_id: UUID, idem_key: str | None) -> dict[str, Any]:
    """Release an open hold entirely."""
    require_role(caller, Role.SYSTEM)
    idem = idempotency.keyed(caller, idem_key, "POST", f"/transactions/{txn_id}/void", {})
    async with db.connection() as conn:
        return await repository.void_hold(
            conn,
            txn_id=txn_id,
            idem=idem,
        )


async def expire_holds(db: Database, now: datetime) -> int:
    """Periodic job: release every open hold whose expires_at <= now (HoldVoided, reason
    EXPIRED). Works in batches, each its own short transaction; several instances may run it at
    once because holds are claimed with FOR NO KEY UPDATE SKIP LOCKED."""
    total = 0
    async with db.connection() as conn:
        while True:
            done = await repository.expire_holds(conn, now, EXPIRY_BATCH)
            total += done
            if done < EXPIRY_BATCH:
                return total
