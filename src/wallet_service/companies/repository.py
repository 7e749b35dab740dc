"""SQL for company defaults."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

_COLUMNS = "company_id, auto_create_wallet, currency, initial_balance, budgets, updated_at"


async def get(conn: asyncpg.Connection, company_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM company_defaults WHERE company_id = $1", company_id
    )
    return dict(row) if row else None


async def upsert(
    conn: asyncpg.Connection, company_id: UUID, changes: dict[str, Any], updated_by: UUID
) -> dict[str, Any]:
    """Insert the company's defaults or change the given fields; others keep their value."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO company_defaults AS d
            (company_id, auto_create_wallet, currency, initial_balance, budgets, updated_by)
        VALUES ($1, coalesce($2::boolean, true), coalesce($3::text, 'USD'),
                coalesce($4::numeric(15,2), 0),
                coalesce($5::jsonb, '[]'::jsonb), $6)
        ON CONFLICT (company_id) DO UPDATE SET
            auto_create_wallet = coalesce($2::boolean, d.auto_create_wallet),
            currency = coalesce($3::text, d.currency),
            initial_balance = coalesce($4::numeric(15,2), d.initial_balance),
            budgets = coalesce($5::jsonb, d.budgets),
            updated_by = $6,
            updated_at = now()
        RETURNING {_COLUMNS}
        """,
        company_id,
        changes.get("auto_create_wallet"),
        changes.get("currency"),
        changes.get("initial_balance"),
        changes.get("budgets"),
        updated_by,
    )
    assert row is not None
    return dict(row)
