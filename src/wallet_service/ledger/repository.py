"""SQL of the ledger. Postings call the database's ledger functions in a single statement, so a
wallet row is locked only while PostgreSQL runs that statement."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.idempotency import Keyed, sql_args


async def post(
    conn: asyncpg.Connection,
    *,
    wallet_id: UUID,
    type: str,
    amount: Decimal,
    description: str | None = None,
    reference_id: str | None = None,
    reference_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    company_id: UUID | None = None,
    idem: Keyed | None = None,
) -> dict[str, Any]:
    """Post a CREDIT or DEBIT; returns {"status", "body", "replayed"} (see ledger_post)."""
    result: dict[str, Any] = await conn.fetchval(
        "SELECT ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        wallet_id,
        type,
        amount,
        description,
        reference_id,
        reference_type,
        metadata,
        company_id,
        *sql_args(idem),
    )
    return result


async def get(conn: asyncpg.Connection, txn_id: UUID) -> dict[str, Any] | None:
    txn: dict[str, Any] | None = await conn.fetchval(
        "SELECT txn_json(t) FROM transactions t WHERE t.txn_id = $1", txn_id
    )
    return txn


async def page(
    conn: asyncpg.Connection,
    *,
    wallet_id: UUID,
    start: datetime | None,
    end_before: datetime | None,
    type: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A wallet's transactions, newest first, with the total count. `end_before` is exclusive."""
    where = """
        WHERE t.wallet_id = $1
          AND ($2::timestamptz IS NULL OR t.created_at >= $2)
          AND ($3::timestamptz IS NULL OR t.created_at < $3)
          AND ($4::text IS NULL OR t.type = $4)
          AND ($5::text IS NULL OR t.status = $5)
    """
    rows = await conn.fetch(
        "SELECT txn_json(t) AS txn FROM transactions t"
        + where
        + " ORDER BY t.created_at DESC, t.txn_id DESC LIMIT $6 OFFSET $7",
        wallet_id,
        start,
        end_before,
        type,
        status,
        limit,
        offset,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM transactions t" + where, wallet_id, start, end_before, type, status
    )
    return [r["txn"] for r in rows], int(total)


async def transfer(
    conn: asyncpg.Connection,
    *,
    from_wallet_id: UUID,
    to_wallet_id: UUID,
    amount: Decimal,
    description: str | None,
    reference_id: str | None,
    company_id: UUID | None,
    idem: Keyed | None,
) -> dict[str, Any]:
    """Move money between two wallets; returns {"status", "body", "replayed"} (ledger_transfer)."""
    result: dict[str, Any] = await conn.fetchval(
        "SELECT ledger_transfer($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        from_wallet_id,
        to_wallet_id,
        amount,
        description,
        reference_id,
        company_id,
        *sql_args(idem),
    )
    return result


async def place_hold(
    conn: asyncpg.Connection,
    *,
    wallet_id: UUID,
    amount: Decimal,
    description: str | None,
    reference_id: str | None,
    reference_type: str | None,
    expires_at: datetime | None,
    idem: Keyed | None,
) -> dict[str, Any]:
    """Place a hold; returns {"status", "body", "replayed"} (ledger_hold)."""
    result: dict[str, Any] = await conn.fetchval(
        "SELECT ledger_hold($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        wallet_id,
        amount,
        description,
        reference_id,
        reference_type,
        expires_at,
        *sql_args(idem),
    )
    return result


async def capture_hold(
    conn: asyncpg.Connection,
    *,
    txn_id: UUID,
    amount: Decimal | None,
    idem: Keyed | None,
) -> dict[str, Any]:
    """Capture all or part of an open hold (ledger_capture)."""
    result: dict[str, Any] = await conn.fetchval(
        "SELECT ledger_capture($1, $2, $3, $4, $5)",
        txn_id,
        amount,
        *sql_args(idem),
    )
    return result


async def void_hold(
    conn: asyncpg.Connection,
    *,
    txn_id: UUID,
    idem: Keyed | None,
) -> dict[str, Any]:
    """Void an open hold (ledger_void)."""
    result: dict[str, Any] = await conn.fetchval(
        "SELECT ledger_void($1, $2, $3, $4)", txn_id, *sql_args(idem)
    )
    return result


async def expire_holds(conn: asyncpg.Connection, now: datetime, limit: int) -> int:
    """Release up to `limit` open holds whose expires_at <= now; returns how many."""
    count: int = await conn.fetchval("SELECT hold_expire_due($1, $2)", now, limit)
    return count
