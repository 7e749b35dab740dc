"""HTTP: POST /events (consume one event) and GET /events (the published-event feed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wallet_service.auth.caller import Role
from wallet_service.auth.scope import require_role
from wallet_service.deps import CallerDep, DbDep, LedgerDep
from wallet_service.events import handlers, outbox
from wallet_service.events.schemas import EventFeed, EventResult, IncomingEvent
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wire import ExactJsonRoute

router = APIRouter(
    prefix="/events", tags=["events"], responses=AUTHENTICATED, route_class=ExactJsonRoute
)


@router.post(
    "",
    responses=errors_for(
        403, 404, 409, codes={404: "USER_NOT_FOUND, WALLET_NOT_FOUND", 409: "WALLET_EXISTS"}
    ),
)
async def consume_event(event: IncomingEvent, caller: CallerDep, ledger: LedgerDep) -> EventResult:
    """Apply one consumed event (UserCreated, ...) exactly as the broker consumer would (SYSTEM).
    A redelivery answers 200 and changes nothing."""
    require_role(caller, Role.SYSTEM)
    return await handlers.apply(ledger, event)


@router.get("", responses=errors_for(403))
async def list_events(
    caller: CallerDep,
    db: DbDep,
    after: Annotated[
        str | None,
        Query(
            max_length=50,
            pattern=outbox.CURSOR_PATTERN,
            description="the `next` of the previous page",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventFeed:
    """Published events, oldest first (ADMIN: their company's; SYSTEM: all)."""
    require_role(caller, Role.ADMIN, Role.SYSTEM)
    async with db.connection() as conn:
        feed = await outbox.feed(conn, company_id=caller.company_id, after=after, limit=limit)
    return EventFeed.model_validate(feed)
