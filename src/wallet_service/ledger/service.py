"""Ledger commands and queries: who may post, read history, and with which filters."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import ensure_can_read, require_role
from wallet_service.db.pool import Database
from wallet_service.errors import TransactionNotFound, ValidationFailed, WalletNotFound
from wallet_service.idempotency import Keyed
from wallet_service.ledger import repository
from wallet_service.ledger.engine import Ledger, Outcome, Posting, apply_in, context, posting
from wallet_service.ledger.schemas import CreateBatch, CreateTransaction, TransactionFilter
from wallet_service.wallets import repository as wallets


async def post_transaction(
    ledger: Ledger, caller: Caller, wallet_id: UUID, cmd: CreateTransaction, idem_key: str | None
) -> dict[str, Any]:
    """A CREDIT or DEBIT on a wallet (SYSTEM only), through the posting engine."""
    require_role(caller, Role.SYSTEM)
    path = f"/wallets/{wallet_id}/transactions"
    idem = idempotency.keyed(caller, idem_key, "POST", path, cmd.model_dump(mode="json"))
    outcome = await ledger.post(_posting(caller, wallet_id, cmd, idem))
    return outcome.result()


async def dry_run(
    ledger: Ledger, caller: Caller, wallet_id: UUID, cmd: CreateTransaction
) -> dict[str, Any]:
    """What the posting would do now, evaluated by the same engine, writing nothing. A posting
    that cannot be evaluated at all (no such wallet) is answered with its error."""
    require_role(caller, Role.SYSTEM)
    (outcome,) = await ledger.apply([_posting(caller, wallet_id, cmd, None)], dry_run=True)
    if outcome.preview is None:
        raise outcome.error()
    return {
        "would_succeed": outcome.ok,
        "code": outcome.code,
        "detail": outcome.detail,
        **outcome.preview,
    }


async def post_batch(
    ledger: Ledger, caller: Caller, cmd: CreateBatch, idem_key: str | None
) -> tuple[int, dict[str, Any]]:
    """POST /transactions/batch (SYSTEM): postings applied in request order in one database
    transaction. atomic: all or nothing (the first refusal is the answer); otherwise each
    posting on its own, one result per posting. The batch as a whole is idempotent."""
    require_role(caller, Role.SYSTEM)
    idem = idempotency.keyed(
        caller, idem_key, "POST", "/transactions/batch", cmd.model_dump(mode="json")
    )
    postings = [_posting(None, p.wallet_id, p, None) for p in cmd.postings]
    async with ledger.db.transaction() as conn:
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        outcomes = await apply_in(conn, postings, ctx=context(caller), atomic=cmd.atomic)
        status, body = (201, _atomic_body(outcomes)) if cmd.atomic else (200, _results(outcomes))
        await idempotency.remember(conn, idem, status, body)
    return status, body


def _posting(
    caller: Caller | None, wallet_id: UUID, cmd: CreateTransaction, idem: Keyed | None
) -> Posting:
    return posting(
        cmd.type.value,
        caller,
        idem,
        wallet_id=wallet_id,
        amount=cmd.amount,
        description=cmd.description,
        reference_id=cmd.reference_id,
        reference_type=cmd.reference_type,
        metadata=cmd.metadata,
    )


def _atomic_body(outcomes: list[Outcome]) -> dict[str, Any]:
    return {"transactions": [o.body for o in outcomes]}


def _results(outcomes: list[Outcome]) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for index, o in enumerate(outcomes):
        if o.ok:
            results.append({"index": index, "status": o.status, "transaction": o.body})
        else:
            error = {"code": o.code, "detail": o.detail}
            results.append({"index": index, "status": o.status, "error": error})
    return {"results": results}


def _as_start(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return _utc(value)
    return datetime.combine(value, time.min, tzinfo=UTC)


def _as_end_before(value: datetime | date | None) -> datetime | None:
    """Inclusive end -> exclusive bound: a date covers its whole day (UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC) + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def list_transactions(
    db: Database, caller: Caller, wallet_id: UUID, query: TransactionFilter
) -> dict[str, Any]:
    start, end_before = _as_start(query.start_date), _as_end_before(query.end_date)
    if start and end_before and start >= end_before:
        raise ValidationFailed("start_date must not be after end_date")
    async with db.connection() as conn:
        owner = await wallets.get_owner(conn, wallet_id)
        if owner is None:
            raise WalletNotFound(f"no wallet {wallet_id}")
        ensure_can_read(caller, owner, WalletNotFound(f"no wallet {wallet_id}"))
        txns, total = await repository.page(
            conn,
            wallet_id=wallet_id,
            start=start,
            end_before=end_before,
            type=query.type.value if query.type else None,
            status=query.status.value if query.status else None,
            limit=query.limit,
            offset=(query.page - 1) * query.limit,
        )
    return {
        "transactions": txns,
        "pagination": {"page": query.page, "limit": query.limit, "total": total},
    }


async def get_transaction(db: Database, caller: Caller, txn_id: UUID) -> dict[str, Any]:
    not_found = TransactionNotFound(f"no transaction {txn_id}")
    async with db.connection() as conn:
        txn = await repository.get(conn, txn_id)
        if txn is None:
            raise not_found
        owner = await wallets.get_owner(conn, UUID(txn["wallet_id"]))
    assert owner is not None
    ensure_can_read(caller, owner, not_found)
    return txn
