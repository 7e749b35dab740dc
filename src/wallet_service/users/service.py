"""Learning about users: a user unknown here may be known to the user-management service."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner
from wallet_service.users import repository
from wallet_service.users.client import UserDirectory


async def learn(
    conn: asyncpg.Connection, directory: UserDirectory | None, user_id: UUID
) -> Owner | None:
    """Ask the user service (when one is configured) about a user unknown here and store them
    inside the caller's transaction. None when there is no user service or it says the user does
    not exist; ServiceUnavailable when it cannot answer (the caller's transaction rolls back)."""
    if directory is None:
        return None
    user = await directory.fetch(user_id)
    if user is None:
        return None
    owner, _ = await repository.upsert(
        conn,
        user_id=user.user_id,
        company_id=user.company_id,
        email=user.email,
        role=user.role.value,
        manager_id=user.manager_id,
    )
    return owner
