"""Handlers of consumed events. One code path: POST /events and the broker consumer both call
`apply()`, which validates the event and applies it: UserCreated in one database transaction,
bookings as postings of the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ValidationError

from wallet_service.budgets.service import apply_company_defaults
from wallet_service.companies.service import defaults_for
from wallet_service.context import current_request_id, set_request_id
from wallet_service.db.pool import Database
from wallet_service.errors import UserNotFound, ValidationFailed, WalletNotFound
from wallet_service.events import inbox
from wallet_service.events.schemas import (
    BookingCancelled,
    BookingCreated,
    EventResult,
    IncomingEvent,
    UserCreated,
)
from wallet_service.ledger.engine import Ledger, Posting, posting
from wallet_service.users import repository as users
from wallet_service.users import service as user_directory
from wallet_service.wallets import repository as wallets
from wallet_service.wallets.service import open_wallet

Handler = Callable[[asyncpg.Connection, Any], Awaitable[tuple[bool, dict[str, Any] | None]]]
PostingFor = Callable[[UUID, Any], Posting]


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


async def _wallet_of(conn: asyncpg.Connection, user_id: UUID) -> UUID:
    found = await wallets.get_by_user(conn, user_id)
    if found is not None:
        return UUID(found[0]["wallet_id"])
    if await users.get_owner(conn, user_id) is None:
        raise UserNotFound(f"no user {user_id}; users are registered by the UserCreated event")
    raise WalletNotFound(f"user {user_id} has no wallet")


def booking_created(wallet_id: UUID, event: BookingCreated) -> Posting:
    """Debit the booking once (reference_type BOOKING; it counts against budgets). A refusal
    (funds, budget, wallet status, currency) is recorded as a FAILED transaction announced by
    TransactionFailed, and the event still counts as handled."""
    return posting(
        "BOOKING_DEBIT",
        None,
        wallet_id=wallet_id,
        booking_id=event.booking_id,
        amount=event.amount,
        currency=event.currency.value,
        description=event.description,
    )


def booking_cancelled(wallet_id: UUID, event: BookingCancelled) -> Posting:
    """Refund a paid booking once (reference_type BOOKING_REFUND; budget usage given back), by
    default in full and never more than was debited. Nothing happens for a booking that was never
    paid, was refused, or was already refunded."""
    return posting(
        "BOOKING_REFUND",
        None,
        wallet_id=wallet_id,
        booking_id=event.booking_id,
        amount=event.refund_amount,
    )


#: event_type -> (data model, handler run in the event's own transaction)
HANDLERS: dict[str, tuple[type[BaseModel], Handler]] = {
    "UserCreated": (UserCreated, user_created),
}
#: event_type -> (data model, the posting it makes on the user's wallet)
POSTINGS: dict[str, tuple[type[BaseModel], PostingFor]] = {
    "BookingCreated": (BookingCreated, booking_created),
    "BookingCancelled": (BookingCancelled, booking_cancelled),
}


def parse(event: IncomingEvent) -> tuple[BaseModel, Handler | PostingFor]:
    """Validate the event's type and data, or raise ValidationFailed saying what does not fit."""
    entry = HANDLERS.get(event.event_type) or POSTINGS.get(event.event_type)
    if entry is None:
        known = ", ".join(sorted([*HANDLERS, *POSTINGS]))
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


async def _learn_user(db: Database, user_id: UUID) -> None:
    """An event names a user unknown here: when a user service is configured and knows them,
    register them as their UserCreated would have (before the event's own transaction, so no
    database transaction waits on an HTTP call)."""
    remote = await user_directory.look_up(db, user_id)
    if remote is not None:
        async with db.transaction() as conn:
            await user_created(conn, UserCreated.model_validate(remote.model_dump()))


async def apply(ledger: Ledger, event: IncomingEvent) -> EventResult:
    """Apply one consumed event exactly as the broker consumer does. An event_id seen before
    changes nothing and answers what its first delivery answered. Booking events are postings:
    they go through the engine (and group commit) like HTTP postings, deduplicated by event_id
    inside the same engine call."""
    db = ledger.db
    data, _ = parse(event)
    if current_request_id() is None and event.event_id is not None:
        set_request_id(f"event:{event.event_id}")  # names the entries this event writes
    user_id = getattr(data, "user_id", None)
    if not isinstance(data, UserCreated) and isinstance(user_id, UUID):
        await _learn_user(db, user_id)
    if event.event_type in POSTINGS:
        assert isinstance(user_id, UUID)
        async with db.connection() as conn:
            wallet_id = await _wallet_of(conn, user_id)
        p = POSTINGS[event.event_type][1](wallet_id, data)
        if event.event_id is not None:
            p["event"] = {"event_id": str(event.event_id), "event_type": event.event_type}
        outcome = await ledger.post(p)
        body = outcome.result()["body"]
        return EventResult(
            event_id=event.event_id,
            event_type=event.event_type,
            applied=bool(body["applied"]) and not outcome.replayed,
            result=body["transaction"],
        )
    run = HANDLERS[event.event_type][1]
    async with db.transaction() as conn:
        if event.event_id is not None:
            prior = await inbox.claim(conn, event.event_id, event.event_type)
            if prior is not None:
                return EventResult(
                    event_id=event.event_id,
                    event_type=event.event_type,
                    applied=False,
                    result=prior["result"],
                )
        applied, result = await run(conn, data)
        if event.event_id is not None:
            await inbox.remember(conn, event.event_id, result)
    return EventResult(
        event_id=event.event_id, event_type=event.event_type, applied=applied, result=result
    )
