"""The processed-event log of the consuming side: which events were applied, and what they
answered (dedupe by event_id). Booking events are deduplicated by the engine itself, by event_id
(the same table) and by booking (debited once, refunded at most once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, event_id: UUID, event_type: str) -> dict[str, Any] | None:
    """Record that this transaction applies `event_id`. Returns None when the event is new, or
    {"result": ...} of the delivery that applied it. A concurrent delivery of the same event waits
    here until the first commits (then it sees the record) or rolls back (then it goes on)."""
    inserted = await conn.fetchval(
        """INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2)
           ON CONFLICT (event_id) DO NOTHING RETURNING true""",
        event_id,
        event_type,
    )
    if inserted:
        return None
    result = await conn.fetchval(
        "SELECT result FROM processed_events WHERE event_id = $1", event_id
    )
    return {"result": result}


async def remember(conn: asyncpg.Connection, event_id: UUID, result: dict[str, Any] | None) -> None:
    """Store what the event answered, for its redeliveries."""
    await conn.execute(
        "UPDATE processed_events SET result = $2 WHERE event_id = $1", event_id, result
    )


#: How long an applied event_id is remembered. Redeliveries come within minutes; bookings stay
#: deduplicated for ever by booking_charges, and UserCreated is idempotent by user.
PROCESSED_RETENTION_DAYS = 30


async def purge_processed(conn: asyncpg.Connection, now: datetime) -> int:
    """Forget applied event ids older than the retention period as of `now`; returns how many."""
    result: str = await conn.execute(
        "DELETE FROM processed_events"
        " WHERE processed_at < $1::timestamptz - make_interval(days => $2)",
        now,
        PROCESSED_RETENTION_DAYS,
    )
    return int(result.split()[-1])
