"""SQL for wallets. Rows are rendered by the database's wallet_json(), the one wallet shape."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner

_WITH_OWNER = """
    SELECT wallet_json(w) AS wallet, u.company_id, u.user_id, u.manager_id
    FROM wallets w JOIN users u ON u.user_id = w.user_id
"""


def _split(row: asyncpg.Record | None) -> tuple[dict[str, Any], Owner] | None:
    if row is None:
        return None
    return row["wallet"], Owner(row["company_id"], row["user_id"], row["manager_id"])


async def get_by_user(
    conn: asyncpg.Connection, user_id: UUID
) -> tuple[dict[str, Any], Owner] | None:
    return _split(await conn.fetchrow(_WITH_OWNER + " WHERE w.user_id = $1", user_id))


async def get_by_id(
    conn: asyncpg.Connection, wallet_id: UUID
) -> tuple[dict[str, Any], Owner] | None:
    return _split(await conn.fetchrow(_WITH_OWNER + " WHERE w.wallet_id = $1", wallet_id))


async def get_owner(conn: asyncpg.Connection, wallet_id: UUID) -> Owner | None:
    row = await conn.fetchrow(
        """SELECT u.company_id, u.user_id, u.manager_id
           FROM wallets w JOIN users u ON u.user_id = w.user_id WHERE w.wallet_id = $1""",
        wallet_id,
    )
    return Owner(**row) if row else None


async def insert(
    conn: asyncpg.Connection, *, company_id: UUID, user_id: UUID, currency: str
) -> dict[str, Any]:
    wallet: dict[str, Any] = await conn.fetchval(
        """INSERT INTO wallets (company_id, user_id, currency) VALUES ($1, $2, $3)
           RETURNING wallet_json(wallets)""",
        company_id,
        user_id,
        currency,
    )
    return wallet


async def lock(conn: asyncpg.Connection, wallet_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT status, balance, held_amount FROM wallets WHERE wallet_id = $1 FOR NO KEY UPDATE",
        wallet_id,
    )


async def set_status(conn: asyncpg.Connection, wallet_id: UUID, status: str) -> dict[str, Any]:
    wallet: dict[str, Any] = await conn.fetchval(
        """UPDATE wallets SET status = $2, version = version + 1, updated_at = now()
           WHERE wallet_id = $1 RETURNING wallet_json(wallets)""",
        wallet_id,
        status,
    )
    return wallet


async def page(
    conn: asyncpg.Connection,
    *,
    company_id: UUID | None,
    team_of: UUID | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Wallets of a company (or all when company_id is None), optionally only a manager's own and
    team's, newest first, with the total count for pagination."""
    where = """
        WHERE ($1::uuid IS NULL OR w.company_id = $1)
          AND ($2::uuid IS NULL OR u.user_id = $2 OR u.manager_id = $2)
          AND ($3::text IS NULL OR w.status = $3)
    """
    rows = await conn.fetch(
        "SELECT wallet_json(w) AS wallet FROM wallets w JOIN users u ON u.user_id = w.user_id"
        + where
        + " ORDER BY w.created_at DESC, w.wallet_id LIMIT $4 OFFSET $5",
        company_id,
        team_of,
        status,
        limit,
        offset,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM wallets w JOIN users u ON u.user_id = w.user_id" + where,
        company_id,
        team_of,
        status,
    )
    return [r["wallet"] for r in rows], int(total)
