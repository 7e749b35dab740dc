"""The transactional outbox: events are written in the same database transaction as the change
they announce, and read back (GET /events) in the order they committed, none skipped.

Why a feed position: seq is assigned when a row is inserted, not when its transaction commits, so
a reader paging by seq could pass over a row whose transaction commits late. Rows are therefore
written without a place in the feed; `sequence` gives committed rows their feed_pos afterwards,
one sequencer at a time (an advisory lock), each run numbering the rows that became visible since
the last one, after the last position given. A row that commits late gets a later position, so a
reader holding a cursor still meets it; and nothing waits for transactions that have not
committed, whatever they are (another database on the server, an idle session). Readers sequence
before they read, so a committed change is in the feed at once; the `sequence-events` job keeps
the backlog short when nobody reads. The sequencer touches only committed rows, one statement for
a whole batch, locking them in seq order like the relay's statements (events/pending.py), so the
two never deadlock.

Cursors are the last feed position served ("1234"). A cursor of the earlier `txid-seq` form
(before feed positions) still works: it continues after that row's position, since the rows
present then were numbered in their (txid, seq) order."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.errors import ValidationFailed
from wallet_service.events.published import PUBLISHED

# 18 digits keep a position (and an old cursor's seq) inside PostgreSQL's bigint
_CURSOR = re.compile(r"^\d{1,18}$")
_OLD_CURSOR = re.compile(r"^\d{1,20}-(\d{1,18})$")
#: What GET /events accepts as `after` (its OpenAPI pattern): a position, or an old `txid-seq`.
CURSOR_PATTERN = r"^(\d{1,18}|\d{1,20}-\d{1,18})$"

#: pg_advisory_xact_lock key of the sequencer (any constant unique to this purpose)
_SEQUENCER_LOCK = 0x0E7E7_5E9
#: rows numbered per sequencer statement at most
SEQUENCE_BATCH = 5000


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


async def _position(conn: asyncpg.Connection, cursor: str | None) -> int:
    """The feed position a cursor stands for (0: the start)."""
    if cursor is None or cursor == "0-0":
        return 0
    if _CURSOR.match(cursor):
        return int(cursor)
    if (old := _OLD_CURSOR.match(cursor)) is not None:
        position: int | None = await conn.fetchval(
            "SELECT feed_pos FROM outbox WHERE seq = $1", int(old[1])
        )
        if position is not None:
            return position
    raise ValidationFailed(
        "after must be a cursor returned as 'next' by a previous GET /events (or omitted)",
        errors=[{"loc": ["query", "after"], "msg": "not a valid cursor"}],
    )


async def sequence(conn: asyncpg.Connection, *, limit: int = SEQUENCE_BATCH) -> int:
    """Give the next feed positions to committed rows that have none, in seq order, at most
    `limit` of them; returns how many. Positions follow the last one given, without gaps."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEQUENCER_LOCK)
        # a new statement, so a new snapshot: it sees every position the previous holder of the
        # lock gave (its commit is visible before its lock is released)
        status: str = await conn.execute(
            """
            WITH batch AS (
                SELECT seq FROM outbox WHERE feed_pos IS NULL
                ORDER BY seq LIMIT $1
                FOR UPDATE
            )
            UPDATE outbox
            SET feed_pos = (SELECT coalesce(max(feed_pos), 0) FROM outbox) + numbered.n
            FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM batch) AS numbered
            WHERE outbox.seq = numbered.seq
            """,
            limit,
        )
    return int(status.split()[-1])


async def sequence_all(conn: asyncpg.Connection) -> int:
    """Sequence every committed row waiting for a position; returns how many."""
    total = 0
    while (done := await sequence(conn)) > 0:
        total += done
        if done < SEQUENCE_BATCH:
            break
    return total


def envelope(row: asyncpg.Record) -> dict[str, Any]:
    """The published form of an outbox row, on GET /events and on the broker alike. The contract's
    {event_id, event_type, timestamp, data}, plus wallet_version: the version of the event's
    wallet right after the change (null for events that change no wallet, e.g. budget events),
    which increases with each change of the wallet, so consumers can order its events."""
    return {
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "timestamp": row["occurred_at"].isoformat(),
        "wallet_version": row["wallet_version"],
        "data": row["data"],
    }


async def feed(
    conn: asyncpg.Connection, *, company_id: UUID | None, after: str | None, limit: int
) -> dict[str, Any]:
    """Committed events after `after`, oldest first, and the cursor to ask for the next page."""
    position = await _position(conn, after)
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE feed_pos IS NULL)"):
        await sequence(conn)  # what committed before this request is in the feed
    columns = "event_id, event_type, occurred_at, wallet_version, data, feed_pos"
    if company_id is None:
        rows = await conn.fetch(
            f"SELECT {columns} FROM outbox WHERE feed_pos > $1 ORDER BY feed_pos LIMIT $2",
            position,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"""SELECT {columns} FROM outbox WHERE company_id = $1 AND feed_pos > $2
                ORDER BY feed_pos LIMIT $3""",
            company_id,
            position,
            limit,
        )
    next_position = rows[-1]["feed_pos"] if rows else position
    return {"events": [envelope(r) for r in rows], "next": str(next_position)}
