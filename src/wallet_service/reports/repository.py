"""SQL of statements and reports. Reads only. Entries are COMPLETED transactions dated by when
their money moved, txn_posted_at() (sql/reports.sql), which PostgreSQL inlines into the expression
the report indexes of migration 0008 are built on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.auth.scope import CompanyScope, Owner

POSTED = "txn_posted_at(t.created_at, t.updated_at, t.hold_amount)"
_CREDITS = "('CREDIT', 'TRANSFER_IN')"


@dataclass(frozen=True)
class WalletInfo:
    owner: Owner
    wallet_id: UUID
    currency: str


async def wallet(conn: asyncpg.Connection, wallet_id: UUID) -> WalletInfo | None:
    row = await conn.fetchrow(
        """SELECT u.company_id, u.user_id, u.manager_id, w.currency
           FROM wallets w JOIN users u ON u.user_id = w.user_id WHERE w.wallet_id = $1""",
        wallet_id,
    )
    if row is None:
        return None
    owner = Owner(row["company_id"], row["user_id"], row["manager_id"])
    return WalletInfo(owner, wallet_id, row["currency"])


async def balance_before(conn: asyncpg.Connection, wallet_id: UUID, before: datetime) -> Decimal:
    """The wallet's balance just before `before`: the balance_after of its last entry posted
    earlier (an index-only lookup). Entries sharing that instant (several postings to one wallet
    in one database transaction) have no order among them, so then the balance is the sum of the
    entries instead (a wallet's balance is always the sum of its entries)."""
    rows = await conn.fetch(
        f"""SELECT t.balance_after, {POSTED} AS posted_at FROM transactions t
            WHERE t.wallet_id = $1 AND t.status = 'COMPLETED' AND {POSTED} < $2
            ORDER BY {POSTED} DESC LIMIT 2""",
        wallet_id,
        before,
    )
    if not rows:
        return Decimal("0.00")
    if len(rows) == 1 or rows[0]["posted_at"] != rows[1]["posted_at"]:
        latest: Decimal = rows[0]["balance_after"]
        return latest
    summed: Decimal = await conn.fetchval(
        f"""SELECT coalesce(sum(CASE WHEN t.type IN {_CREDITS} THEN t.amount ELSE -t.amount END),
                            0)::numeric(15,2)
            FROM transactions t
            WHERE t.wallet_id = $1 AND t.status = 'COMPLETED' AND {POSTED} < $2""",
        wallet_id,
        before,
    )
    return summed


async def movements(
    conn: asyncpg.Connection, wallet_id: UUID, start: datetime, end_before: datetime
) -> tuple[Decimal, Decimal, int]:
    """(credits, debits, count) of the wallet's entries posted in [start, end_before)."""
    row = await conn.fetchrow(
        f"""SELECT coalesce(sum(t.amount) FILTER (WHERE t.type IN {_CREDITS}), 0) AS credits,
                   coalesce(sum(t.amount) FILTER (WHERE t.type NOT IN {_CREDITS}), 0) AS debits,
                   count(*) AS n
            FROM transactions t
            WHERE t.wallet_id = $1 AND t.status = 'COMPLETED'
              AND {POSTED} >= $2 AND {POSTED} < $3""",
        wallet_id,
        start,
        end_before,
    )
    assert row is not None
    return row["credits"], row["debits"], int(row["n"])


async def entries(
    conn: asyncpg.Connection, wallet_id: UUID, start: datetime, end_before: datetime
) -> AsyncIterator[dict[str, Any]]:
    """The wallet's entries posted in [start, end_before), oldest first, read with a cursor (the
    connection must be in a transaction), each as txn_json plus its posted_at."""
    async for row in conn.cursor(
        f"""SELECT txn_json(t) || jsonb_build_object('posted_at', {POSTED}) AS entry
            FROM transactions t
            WHERE t.wallet_id = $1 AND t.status = 'COMPLETED'
              AND {POSTED} >= $2 AND {POSTED} < $3
            ORDER BY {POSTED}, t.txn_id""",
        wallet_id,
        start,
        end_before,
        prefetch=500,
    ):
        yield row["entry"]


async def team_wallets(conn: asyncpg.Connection, scope: CompanyScope) -> list[UUID] | None:
    """The wallets a MANAGER's scope covers (their own and their team's); None for a whole
    company."""
    if scope.team_of is None:
        return None
    rows = await conn.fetch(
        """SELECT w.wallet_id FROM users u JOIN wallets w ON w.user_id = u.user_id
           WHERE u.company_id = $1 AND (u.user_id = $2 OR u.manager_id = $2)""",
        scope.company_id,
        scope.team_of,
    )
    return [r["wallet_id"] for r in rows]


#: group_by -> the key of an entry (SQL over `t` and `posted_at`); a fixed list, never user text
SPEND_KEYS = {
    "user": "NULL::text",  # replaced by the wallet's user_id after the join
    "month": "to_char(posted_at AT TIME ZONE 'UTC', 'YYYY-MM')",
    "type": "type",
    "reference_type": "reference_type",
}


async def spend(
    conn: asyncpg.Connection,
    scope: CompanyScope,
    wallets: list[UUID] | None,
    group_by: str,
    start: datetime,
    end_before: datetime,
) -> list[asyncpg.Record]:
    """Rows (key, currency, spent, refunded, count) of the COMPLETED DEBITs and *_REFUND credits
    posted in [start, end_before), of the company or of `wallets` only. Transfers and other
    credits are not spending."""
    key = SPEND_KEYS[group_by]
    where = "t.wallet_id = ANY($1::uuid[])" if wallets is not None else "t.company_id = $1"
    per_user = group_by == "user"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        WITH entries AS (
            SELECT t.wallet_id, t.type, t.amount, t.reference_type, {POSTED} AS posted_at
            FROM transactions t
            WHERE {where} AND t.status = 'COMPLETED'
              AND {POSTED} >= $2 AND {POSTED} < $3
              AND (t.type = 'DEBIT' OR (t.type = 'CREDIT' AND t.reference_type LIKE '%\\_REFUND'))
        ), per_wallet AS (
            SELECT wallet_id, {key} AS key,
                   coalesce(sum(amount) FILTER (WHERE type = 'DEBIT'), 0) AS spent,
                   coalesce(sum(amount) FILTER (WHERE type = 'CREDIT'), 0) AS refunded,
                   count(*) FILTER (WHERE type = 'DEBIT') AS n
            FROM entries GROUP BY 1, 2
        )
        SELECT {"w.user_id::text" if per_user else "p.key"} AS key, w.currency,
               sum(p.spent) AS spent, sum(p.refunded) AS refunded, sum(p.n)::bigint AS n
        FROM per_wallet p JOIN wallets w ON w.wallet_id = p.wallet_id
        GROUP BY 1, 2
        """,
        wallets if wallets is not None else scope.company_id,
        start,
        end_before,
    )
    return rows


async def budgets(
    conn: asyncpg.Connection, scope: CompanyScope, status: str
) -> list[dict[str, Any]]:
    """The company's budgets in `status` (a MANAGER: their own and their team's), most used
    first, each rendered by budget_report_json()."""
    rows = await conn.fetch(
        """SELECT budget_report_json(b, u.user_id, w.currency) AS budget
           FROM budgets b
           JOIN wallets w ON w.wallet_id = b.wallet_id
           JOIN users u ON u.user_id = w.user_id
           WHERE b.company_id = $1 AND b.status = $2
             AND ($3::uuid IS NULL OR u.user_id = $3 OR u.manager_id = $3)
           ORDER BY budget_utilisation_pct(b) DESC, b.end_date, b.budget_id""",
        scope.company_id,
        status,
        scope.team_of,
    )
    return [r["budget"] for r in rows]


async def recent_entries(
    conn: asyncpg.Connection, scope: CompanyScope, wallets: list[UUID] | None, limit: int
) -> list[dict[str, Any]]:
    """The most recently posted entries of the company (or of `wallets`), newest first, each as
    txn_json plus its posted_at and the wallet's user_id."""
    where = "t.wallet_id = ANY($1::uuid[])" if wallets is not None else "t.company_id = $1"
    rows = await conn.fetch(
        f"""SELECT txn_json(t) || jsonb_build_object('posted_at', {POSTED},
                                                     'user_id', w.user_id) AS entry
            FROM transactions t JOIN wallets w ON w.wallet_id = t.wallet_id
            WHERE {where} AND t.status = 'COMPLETED'
            ORDER BY {POSTED} DESC, t.txn_id DESC
            LIMIT $2""",
        wallets if wallets is not None else scope.company_id,
        limit,
    )
    return [r["entry"] for r in rows]
