"""HTTP: POST /events (consume one event) and GET /events (the published-event feed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from wallet_service.auth.caller import Role
from wallet_service.auth.scope import require_role
from wallet_service.deps import CallerDep, DbDep, LedgerDep
from wallet_service.events import handlers, outbox
from wallet_service.events.schemas import EventFeed, EventResult, IncomingEvent
from wallet_service.wire import ExactJsonRoute

router = APIRouter(prefix="/events", tags=["events"], route_class=ExactJsonRoute)


@router.post("", response_model=EventResult)
async def consume_event(event: IncomingEvent, caller: CallerDep, ledger: LedgerDep) -> EventResult:
    """Apply one consumed event (UserCreated, ...) exactly as the broker consumer would (SYSTEM).
    A redelivery answers 200 and changes nothing."""
    require_role(caller, Role.SYSTEM)
    return await handlers.apply(ledger, event)


@router.get("", response_model=EventFeed)
async def list_events(
    caller: CallerDep,
    db: DbDep,
    after: Annotated[
        str | None, Query(max_length=50, description="the `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Published events, oldest first (ADMIN: their company's; SYSTEM: all)."""
    require_role(caller, Role.ADMIN, Role.SYSTEM)
    async with db.connection() as conn:
        return await outbox.feed(conn, company_id=caller.company_id, after=after, limit=limit)
