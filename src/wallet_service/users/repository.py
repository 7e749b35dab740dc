"""SQL for users."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner


async def get_owner(conn: asyncpg.Connection, user_id: UUID) -> Owner | None:
    row = await conn.fetchrow(
        "SELECT company_id, user_id, manager_id FROM users WHERE user_id = $1", user_id
    )
    return Owner(**row) if row else None


async def upsert(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    company_id: UUID,
    email: str | None,
    role: str,
    manager_id: UUID | None,
) -> tuple[Owner, bool]:
    """Store a user (from UserCreated), or refresh email/role/manager of a known one.
    Returns the owner and whether the user is new. A user never moves company here: a known user
    of another company is returned unchanged, and the caller refuses the event."""
    row = await conn.fetchrow(
        """
        INSERT INTO users (user_id, company_id, email, role, manager_id)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id) DO UPDATE
            SET email = excluded.email, role = excluded.role, manager_id = excluded.manager_id,
                updated_at = now()
            WHERE users.company_id = excluded.company_id
        RETURNING company_id, user_id, manager_id, (xmax = 0) AS inserted
        """,
        user_id,
        company_id,
        email,
        role,
        manager_id,
    )
    if row is None:  # known user of another company: left as it is
        owner = await get_owner(conn, user_id)
        assert owner is not None
        return owner, False
    return Owner(row["company_id"], row["user_id"], row["manager_id"]), bool(row["inserted"])
