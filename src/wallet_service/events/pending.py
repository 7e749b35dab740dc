"""SQL of the relay: lease unpublished outbox rows, mark them published, or hand them back.

A lease (claimed_until) instead of a row lock held while waiting on the broker: claiming is one
short transaction, serialized by an advisory lock so two relays never claim the same row, and a
relay that dies mid-batch only delays its rows until the lease runs out (they are then published
again: at-least-once, consumers dedupe by event_id). A row is not claimed while an earlier row of
its wallet is leased by another relay, so each wallet's events are published in seq order."""

from __future__ import annotations

import asyncpg

#: pg_advisory_xact_lock key taken by every claim (any constant unique to this purpose)
_CLAIM_LOCK = 0x0E7E7_0B0C


async def claim(conn: asyncpg.Connection, *, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Lease up to `limit` committed, unpublished rows, oldest first, for `lease_s` seconds."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
        rows = await conn.fetch(
            """
            WITH candidates AS (
                SELECT o.seq FROM outbox o
                WHERE o.published_at IS NULL
                  AND (o.claimed_until IS NULL OR o.claimed_until < now())
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox e
                      WHERE e.wallet_id = o.wallet_id AND e.seq < o.seq
                        AND e.published_at IS NULL AND e.claimed_until >= now())
                ORDER BY o.seq
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE outbox SET claimed_until = now() + make_interval(secs => $2)
            FROM candidates WHERE outbox.seq = candidates.seq
            RETURNING outbox.seq, outbox.event_id, outbox.event_type, outbox.occurred_at,
                      outbox.data, outbox.wallet_id
            """,
            limit,
            lease_s,
        )
    return sorted(rows, key=lambda r: r["seq"])


async def mark_published(conn: asyncpg.Connection, seqs: list[int]) -> None:
    if seqs:
        await conn.execute(
            "UPDATE outbox SET published_at = now(), claimed_until = NULL WHERE seq = ANY($1)",
            seqs,
        )


async def release(conn: asyncpg.Connection, seqs: list[int]) -> None:
    """Hand leased rows back (their publication failed) so the next batch takes them again."""
    if seqs:
        await conn.execute(
            """UPDATE outbox SET claimed_until = NULL
               WHERE seq = ANY($1) AND published_at IS NULL""",
            seqs,
        )


async def backlog(conn: asyncpg.Connection) -> int:
    """How many events wait to be published."""
    n: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return n
