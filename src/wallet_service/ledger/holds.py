"""Holds (two-phase debits): place, capture, void, and the expiry job. SYSTEM only.

Each command is one posting of the engine, which locks the hold's wallet, then the hold, then
its budgets, so a hold is settled at most once however the calls race."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import require_role
from wallet_service.db.pool import Database
from wallet_service.ledger import repository
from wallet_service.ledger.engine import Ledger, apply_in, posting
from wallet_service.ledger.schemas import CaptureHold, CreateHold

#: Holds expired per database statement by the expiry job (bounds lock time and statement size).
EXPIRY_BATCH = 200


async def place_hold(
    ledger: Ledger, caller: Caller, wallet_id: UUID, cmd: CreateHold, idem_key: str | None
) -> dict[str, Any]:
    """Reserve cmd.amount on the wallet: available_balance drops now, balance at capture."""
    require_role(caller, Role.SYSTEM)
    idem = idempotency.keyed(
        caller, idem_key, "POST", f"/wallets/{wallet_id}/holds", cmd.model_dump(mode="json")
    )
    p = posting(
        "HOLD",
        caller,
        idem,
        wallet_id=wallet_id,
        amount=cmd.amount,
        description=cmd.description,
        reference_id=cmd.reference_id,
        reference_type=cmd.reference_type,
        expires_at=cmd.expires_at,
    )
    return (await ledger.post(p)).result()


async def capture(
    ledger: Ledger, caller: Caller, txn_id: UUID, cmd: CaptureHold | None, idem_key: str | None
) -> dict[str, Any]:
    """Take all (default) or part of an open hold; the rest is released."""
    require_role(caller, Role.SYSTEM)
    cmd = cmd or CaptureHold()
    idem = idempotency.keyed(
        caller, idem_key, "POST", f"/transactions/{txn_id}/capture", cmd.model_dump(mode="json")
    )
    p = posting("CAPTURE", caller, idem, txn_id=txn_id, amount=cmd.amount)
    return (await ledger.post(p)).result()


async def void(
    ledger: Ledger, caller: Caller, txn_id: UUID, idem_key: str | None
) -> dict[str, Any]:
    """Release an open hold entirely."""
    require_role(caller, Role.SYSTEM)
    idem = idempotency.keyed(caller, idem_key, "POST", f"/transactions/{txn_id}/void", {})
    return (await ledger.post(posting("VOID", caller, idem, txn_id=txn_id))).result()


async def expire_holds(db: Database, now: datetime) -> int:
    """Periodic job: release every open hold whose expires_at <= now (HoldVoided, reason
    EXPIRED). Works in batches, each one engine call; several instances may run it at once: a
    hold settled meanwhile (by another instance, a capture or a void) is refused, not settled
    twice."""
    total = 0
    while True:
        async with db.connection() as conn:
            due = await repository.due_holds(conn, now, EXPIRY_BATCH)
            postings = [posting("EXPIRE", None, txn_id=t, now=now) for t in due]
            outcomes = await apply_in(conn, postings) if postings else []
        expired = sum(o.ok for o in outcomes)
        total += expired
        if len(due) < EXPIRY_BATCH or expired == 0:
            return total
