"""Handlers of consumed events. One code path: POST /events and the broker consumer both call
`apply()`, which validates the event and runs its handler in one database transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from wallet_service.budgets.service import apply_company_defaults
from wallet_service.companies.service import defaults_for
from wallet_service.db.pool import Database
from wallet_service.errors import ValidationFailed
from wallet_service.events.schemas import EventResult, IncomingEvent, UserCreated
from wallet_service.users import repository as users
from wallet_service.wallets import repository as wallets
from wallet_service.wallets.service import open_wallet

Handler = Callable[[asyncpg.Connection, Any], Awaitable[tuple[bool, dict[str, Any] | None]]]


async def user_created(
    conn: asyncpg.Connection, event: UserCreated
) -> tuple[bool, dict[str, Any] | None]:
    """Store the user; give them a wallet (and the company's default budgets) unless they have one
    or the company turned auto_create_wallet off."""
    owner, is_new = await users.upsert(
        conn,
        user_id=event.user_id,
        company_id=event.company_id,
        email=event.email,
        role=event.role.value,
        manager_id=event.manager_id,
    )
    if owner.company_id != event.company_id:
        raise ValidationFailed(f"user {event.user_id} already belongs to another company")
    existing = await wallets.get_by_user(conn, event.user_id)
    if existing is not None:
        return is_new, existing[0]
    defaults = await defaults_for(conn, event.company_id)
    if not defaults.auto_create_wallet:
        return is_new, None
    wallet = await open_wallet(conn, owner, defaults.currency.value, defaults.initial_balance)
    await apply_company_defaults(
        conn, owner, UUID(wallet["wallet_id"]), defaults.budgets, datetime.now(UTC).date()
    )
    return True, wallet


#: event_type -> (data model, handler)
HANDLERS: dict[str, tuple[type[BaseModel], Handler]] = {
    "UserCreated": (UserCreated, user_created),
}


def parse(event: IncomingEvent) -> tuple[BaseModel, Handler]:
    """Validate the event's type and data, or raise ValidationFailed saying what does not fit."""
    entry = HANDLERS.get(event.event_type)
    if entry is None:
        known = ", ".join(sorted(HANDLERS))
        raise ValidationFailed(
            f"unknown event_type {event.event_type!r}; this service consumes {known}",
            errors=[{"loc": ["body", "event_type"], "msg": f"must be one of {known}"}],
        )
    model, handler = entry
    try:
        data = model.model_validate(event.data)
    except ValidationError as exc:
        raise ValidationFailed(
            f"data does not fit {event.event_type}",
            errors=[
                {"loc": ["body", "data", *e["loc"]], "msg": e["msg"]}
                for e in exc.errors(include_url=False)
            ],
        ) from None
    return data, handler


async def apply(db: Database, event: IncomingEvent) -> EventResult:
    """Apply one consumed event exactly as the broker consumer does."""
    data, handler = parse(event)
    async with db.transaction() as conn:
        applied, result = await handler(conn, data)
    return EventResult(
        event_id=event.event_id, event_type=event.event_type, applied=applied, result=result
    )
