"""SQL of the ledger: the one call of the posting engine, and the reads of the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service import errors


async def apply(
    conn: asyncpg.Connection,
    postings: list[dict[str, Any]],
    ctx: dict[str, Any],
    *,
    atomic: bool,
    dry_run: bool,
) -> list[dict[str, Any]]:
    """One call of the engine, ledger_apply: one outcome per posting. In an atomic call the
    first refusal raises its domain error, with errors=[{index, code}], and nothing is applied."""
    try:
        outcomes: list[dict[str, Any]] = await conn.fetchval(
            "SELECT ledger_apply($1, $2, $3, $4)", postings, ctx, atomic, dry_run
        )
    except asyncpg.RaiseError as exc:
        hint = exc.hint or ""
        if not hint.startswith("posting "):
            raise
        code = exc.message
        cls = errors.BY_CODE.get(code, errors.Conflict)
        detail = f"posting {hint.removeprefix('posting ')}: {exc.detail or cls.title}"
        raise cls(detail, errors=[{"index": int(hint.split()[1]), "code": code}]) from None
    return outcomes


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


async def due_holds(conn: asyncpg.Connection, now: datetime, limit: int) -> list[UUID]:
    """Up to `limit` open holds whose expires_at <= now, in wallet order."""
    rows = await conn.fetch(
        """SELECT txn_id FROM transactions
           WHERE status = 'PENDING' AND hold_amount IS NOT NULL AND expires_at <= $1
           ORDER BY wallet_id, txn_id LIMIT $2""",
        now,
        limit,
    )
    return [r["txn_id"] for r in rows]
