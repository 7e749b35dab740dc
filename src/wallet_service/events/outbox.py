"""The transactional outbox: events are written in the same database transaction as the change
they announce, and read back in a gap-free order.

Why the (txid, seq) cursor: seq is assigned when a row is inserted, not when its transaction
commits, so a reader paging by seq alone could pass over a row whose transaction commits late.
Rows are served only when their transaction id is below the oldest transaction still running
(pg_snapshot_xmin), i.e. when nothing can appear before them any more, ordered by (txid, seq)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.errors import ValidationFailed
from wallet_service.events.published import PUBLISHED

_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,20})$")
START = "0-0"


async def emit(
    conn: asyncpg.Connection,
    event_type: str,
    data: dict[str, Any],
    *,
    company_id: UUID | None,
    wallet_id: UUID | None = None,
    wallet_version: int | None = None,
) -> UUID:
    """Append an event to the outbox, inside the caller's transaction. `data` is built through
    the event's model (events/published.py), so it has the published shape or is refused."""
    model = PUBLISHED.get(event_type)
    if model is None:
        raise ValueError(f"{event_type} is not declared in events/published.py")
    payload = model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    event_id: UUID = await conn.fetchval(
        "SELECT emit_event($1, $2, $3, $4, $5)",
        company_id,
        wallet_id,
        wallet_version,
        event_type,
        payload,
    )
    return event_id


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    match = _CURSOR.match(cursor or START)
    if not match:
        raise ValidationFailed(
            "after must be a cursor returned as 'next' by a previous GET /events (or omitted)",
            errors=[{"loc": ["query", "after"], "msg": "not a valid cursor"}],
        )
    return int(match[1]), int(match[2])


def envelope(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "timestamp": row["occurred_at"].isoformat(),
        "data": row["data"],
    }


async def feed(
    conn: asyncpg.Connection, *, company_id: UUID | None, after: str | None, limit: int
) -> dict[str, Any]:
    """Committed events after `after`, oldest first, and the cursor to ask for the next page."""
    txid, seq = parse_cursor(after)
    rows = await conn.fetch(
        """
        SELECT event_id, event_type, occurred_at, data, txid::text AS txid, seq
        FROM outbox
        WHERE ($1::uuid IS NULL OR company_id = $1)
          AND (txid, seq) > ($2::text::xid8, $3::bigint)
          AND txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY txid, seq
        LIMIT $4
        """,
        company_id,
        str(txid),
        seq,
        limit,
    )
    next_cursor = f"{rows[-1]['txid']}-{rows[-1]['seq']}" if rows else f"{txid}-{seq}"
    return {"events": [envelope(r) for r in rows], "next": next_cursor}
