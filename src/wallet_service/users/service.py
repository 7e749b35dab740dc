"""Learning about users: a user unknown here may be known to the user-management service.

The HTTP call happens before the command opens its database transaction (`look_up`), so no
transaction or row lock ever waits on the user service; the answer is stored inside the
command's transaction (`remember`)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner
from wallet_service.db.pool import Database
from wallet_service.users import repository
from wallet_service.users.client import RemoteUser, directory_for


async def look_up(db: Database, user_id: UUID) -> RemoteUser | None:
    """The user as the user service knows them, when they are unknown here and a user service is
    configured; else None. ServiceUnavailable when the user service cannot answer."""
    directory = directory_for(db)
    if directory is None:
        return None
    async with db.connection() as conn:
        if await repository.get_owner(conn, user_id) is not None:
            return None
    return await directory.fetch(user_id)


async def remember(conn: asyncpg.Connection, user: RemoteUser) -> Owner:
    """Store a user learned from the user service, inside the caller's transaction."""
    owner, _ = await repository.upsert(
        conn,
        user_id=user.user_id,
        company_id=user.company_id,
        email=user.email,
        role=user.role.value,
        manager_id=user.manager_id,
    )
    return owner
