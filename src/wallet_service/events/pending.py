"""SQL of the relay: lease unpublished outbox rows, mark them published, or hand them back.

A lease (claimed_until, claim_token) instead of a row lock held while waiting on the broker:
claiming is one short transaction, serialized by an advisory lock so two relays never claim the
same row at once, and a relay that dies mid-batch only delays its rows until the lease runs out
(they are then published again: at-least-once, consumers dedupe by event_id).

Every claim stamps its rows with a fresh claim_token, and `release` touches only rows still
carrying the caller's token: a relay whose lease ran out (and whose rows another relay claimed
since) cannot hand back, and so expose to a third relay, rows it no longer holds.

`mark_published` is deliberately NOT restricted to the token: it is called only for rows the broker
confirmed, so the row is published whoever holds it now; recording that never loses an event. At
worst the relay that re-claimed the row sends it once more (a duplicate, deduped by event_id); its
own later `mark_published`/`release` of that row then change nothing. The lease of a published row
is cleared, which frees nothing: a published row is never claimed again.

Order per wallet: a claim takes, per wallet, only the prefix (in seq order) of its unpublished rows
that are all free (never leased, released, or with an expired lease); a row waits while any
earlier unpublished row of its wallet is leased by another claim. An earlier row whose lease has
expired is free, so it is taken by the same claim, before the later one. No SKIP LOCKED: a row
locked by a concurrent `release`/`mark_published` is waited for (a few ms) and re-checked, instead
of being skipped while a later row of its wallet is claimed.

Every statement here locks its rows in seq order, as the feed's sequencer does
(events/outbox.py), so none of them can deadlock with another."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import asyncpg

#: pg_advisory_xact_lock key taken by every claim (any constant unique to this purpose)
_CLAIM_LOCK = 0x0E7E7_0B0C


@dataclass(frozen=True)
class Claim:
    """The rows of one claim (seq order) and the token that proves the claim still holds them."""

    token: uuid.UUID
    rows: list[asyncpg.Record] = field(default_factory=list)

    @property
    def seqs(self) -> list[int]:
        return [r["seq"] for r in self.rows]


async def claim(conn: asyncpg.Connection, *, limit: int, lease_s: float) -> Claim:
    """Lease up to `limit` committed, unpublished rows, oldest first, for `lease_s` seconds."""
    token = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
        rows = await conn.fetch(
            """
            WITH candidates AS (
                SELECT o.seq FROM outbox o
                WHERE o.published_at IS NULL
                  AND (o.claimed_until IS NULL OR o.claimed_until < now())
                  -- every earlier unpublished row of the wallet is free too (and, coming first
                  -- in seq order, is taken by this claim before this one)
                  AND NOT EXISTS (
                      SELECT 1 FROM outbox e
                      WHERE e.wallet_id = o.wallet_id AND e.seq < o.seq
                        AND e.published_at IS NULL AND e.claimed_until >= now())
                ORDER BY o.seq
                LIMIT $1
                FOR UPDATE
            )
            UPDATE outbox
            SET claimed_until = now() + make_interval(secs => $2), claim_token = $3
            FROM candidates WHERE outbox.seq = candidates.seq
            RETURNING outbox.seq, outbox.event_id, outbox.event_type, outbox.occurred_at,
                      outbox.data, outbox.wallet_id, outbox.wallet_version
            """,
            limit,
            lease_s,
            token,
        )
    return Claim(token, sorted(rows, key=lambda r: r["seq"]))


async def mark_published(conn: asyncpg.Connection, seqs: list[int]) -> None:
    """Record rows the broker confirmed, whoever holds their lease now (see the module doc)."""
    if seqs:
        await conn.execute(
            """UPDATE outbox SET published_at = now(), claimed_until = NULL, claim_token = NULL
               FROM (SELECT seq FROM outbox WHERE seq = ANY($1) AND published_at IS NULL
                     ORDER BY seq FOR UPDATE) AS locked
               WHERE outbox.seq = locked.seq""",
            seqs,
        )


async def release(conn: asyncpg.Connection, token: uuid.UUID, seqs: list[int]) -> None:
    """Hand back rows of the claim `token` that were not sent, so the next claim takes them again;
    rows another claim took since (this lease ran out) are left alone."""
    if seqs:
        await conn.execute(
            """UPDATE outbox SET claimed_until = NULL, claim_token = NULL
               FROM (SELECT seq FROM outbox
                     WHERE seq = ANY($1) AND claim_token = $2 AND published_at IS NULL
                     ORDER BY seq FOR UPDATE) AS locked
               WHERE outbox.seq = locked.seq""",
            seqs,
            token,
        )


async def backlog(conn: asyncpg.Connection) -> int:
    """How many events wait to be published."""
    n: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return n
