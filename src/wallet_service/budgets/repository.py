"""SQL for budgets. Rows are rendered by the database's budget_json() and budget_history_json(),
the one shape of a budget and of a history row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner

_WITH_OWNER = """
    SELECT budget_json(b) AS budget, u.company_id, u.user_id, u.manager_id
    FROM budgets b JOIN wallets w ON w.wallet_id = b.wallet_id JOIN users u ON u.user_id = w.user_id
"""


def _owner(row: asyncpg.Record) -> Owner:
    return Owner(row["company_id"], row["user_id"], row["manager_id"])


async def get_wallet(conn: asyncpg.Connection, wallet_id: UUID) -> tuple[Owner, str] | None:
    """The owner and status of a wallet a budget is being created for."""
    row = await conn.fetchrow(
        """SELECT u.company_id, u.user_id, u.manager_id, w.status
           FROM wallets w JOIN users u ON u.user_id = w.user_id WHERE w.wallet_id = $1""",
        wallet_id,
    )
    return (_owner(row), str(row["status"])) if row else None


async def get(
    conn: asyncpg.Connection, budget_id: UUID, *, for_update: bool = False
) -> tuple[dict[str, Any], Owner] | None:
    """A budget and its owner; `for_update` locks the budget row until the transaction ends."""
    lock = " FOR NO KEY UPDATE OF b" if for_update else ""
    row = await conn.fetchrow(_WITH_OWNER + " WHERE b.budget_id = $1" + lock, budget_id)
    return (row["budget"], _owner(row)) if row else None


async def active_of_user(conn: asyncpg.Connection, user_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT budget_json(b) AS budget
           FROM budgets b JOIN wallets w ON w.wallet_id = b.wallet_id
           WHERE w.user_id = $1 AND b.status = 'ACTIVE'
           ORDER BY b.start_date, b.period_type, b.budget_id""",
        user_id,
    )
    return [r["budget"] for r in rows]


async def find_overlap(
    conn: asyncpg.Connection,
    *,
    wallet_id: UUID,
    period_type: str,
    start: date,
    end: date,
    exclude: UUID | None = None,
) -> dict[str, Any] | None:
    """An ACTIVE budget of the wallet and period type whose dates meet [start, end], if any.
    (The budgets_no_overlap constraint is the guarantee; this finds the one to name.)"""
    found: dict[str, Any] | None = await conn.fetchval(
        """SELECT budget_json(b) FROM budgets b
           WHERE b.wallet_id = $1 AND b.period_type = $2 AND b.status = 'ACTIVE'
             AND b.start_date <= $4 AND b.end_date >= $3
             AND ($5::uuid IS NULL OR b.budget_id <> $5)
           ORDER BY b.start_date LIMIT 1""",
        wallet_id,
        period_type,
        start,
        end,
        exclude,
    )
    return found


async def insert(
    conn: asyncpg.Connection,
    *,
    company_id: UUID,
    wallet_id: UUID,
    total_amount: Decimal,
    period_type: str,
    start_date: date,
    end_date: date,
    enforcement: str,
    alert_thresholds: list[int],
    auto_renew: bool,
    created_by: UUID,
    renewed_from: UUID | None = None,
) -> dict[str, Any]:
    budget: dict[str, Any] = await conn.fetchval(
        """INSERT INTO budgets (company_id, wallet_id, total_amount, period_type, start_date,
                                end_date, enforcement, alert_thresholds, auto_renew, created_by,
                                renewed_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING budget_json(budgets)""",
        company_id,
        wallet_id,
        total_amount,
        period_type,
        start_date,
        end_date,
        enforcement,
        alert_thresholds,
        auto_renew,
        created_by,
        renewed_from,
    )
    return budget


async def update(
    conn: asyncpg.Connection,
    budget_id: UUID,
    *,
    total_amount: Decimal | None = None,
    end_date: date | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """Change the given fields (None keeps the value)."""
    budget: dict[str, Any] = await conn.fetchval(
        """UPDATE budgets SET total_amount = coalesce($2, total_amount),
                              end_date = coalesce($3, end_date),
                              status = coalesce($4, status),
                              updated_at = now()
           WHERE budget_id = $1 RETURNING budget_json(budgets)""",
        budget_id,
        total_amount,
        end_date,
        status,
    )
    return budget


async def refresh_alerts(
    conn: asyncpg.Connection, budget_id: UUID, user_id: UUID
) -> dict[str, Any]:
    """After the total changed: announce the thresholds usage now reaches that were not announced
    yet, and re-arm those it no longer reaches (see the SQL budget_alerts)."""
    budget: dict[str, Any] = await conn.fetchval(
        """UPDATE budgets b SET alerted_thresholds = budget_alerts(b, b.used_amount, $2, NULL, NULL)
           WHERE budget_id = $1 RETURNING budget_json(b)""",
        budget_id,
        user_id,
    )
    return budget


async def add_history(
    conn: asyncpg.Connection,
    *,
    company_id: UUID,
    budget_id: UUID,
    old_amount: Decimal | None,
    new_amount: Decimal | None,
    old_status: str | None,
    new_status: str | None,
    reason: str | None,
    changed_by: UUID,
) -> None:
    await conn.execute(
        """INSERT INTO budget_history (company_id, budget_id, old_amount, new_amount, old_status,
                                       new_status, change_reason, changed_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        company_id,
        budget_id,
        old_amount,
        new_amount,
        old_status,
        new_status,
        reason,
        changed_by,
    )


async def history(conn: asyncpg.Connection, budget_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT budget_history_json(h) AS entry FROM budget_history h
           WHERE h.budget_id = $1 ORDER BY h.created_at, h.history_id""",
        budget_id,
    )
    return [r["entry"] for r in rows]


async def claim_ended(
    conn: asyncpg.Connection, today: date, limit: int, skip: list[UUID] | None = None
) -> list[UUID]:
    """Lock up to `limit` ACTIVE budgets whose end_date is before `today`, skipping the ones
    another instance of the job holds (each budget has exactly one winner) and those in `skip`."""
    rows = await conn.fetch(
        """SELECT budget_id FROM budgets
           WHERE status = 'ACTIVE' AND end_date < $1 AND budget_id <> ALL ($3::uuid[])
           ORDER BY end_date, budget_id
           LIMIT $2
           FOR NO KEY UPDATE SKIP LOCKED""",
        today,
        limit,
        skip or [],
    )
    return [r["budget_id"] for r in rows]


async def defaults_author(conn: asyncpg.Connection, company_id: UUID) -> UUID | None:
    """Who last set the company's defaults (company_defaults.updated_by)."""
    author: UUID | None = await conn.fetchval(
        "SELECT updated_by FROM company_defaults WHERE company_id = $1", company_id
    )
    return author
