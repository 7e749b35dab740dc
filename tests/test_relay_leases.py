"""Relay leases, driven through events/pending.py with two or three simulated relays (no broker):
a relay whose lease ran out cannot hand back rows another relay claimed since; a row is never
claimed while an earlier unpublished row of its wallet is leased or being released; a relay stops
publishing a batch whose lease runs out and hands back the rest. Leases are "run out" by moving
claimed_until into the past, and the relay runs on an injected clock."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import aio_pika
import psycopg
import pytest
from aio_pika.abc import AbstractExchange

from wallet_service.db.pool import Database
from wallet_service.events import pending
from wallet_service.events.relay import Relay, RelayConfig

T = TypeVar("T")
RunDb = Callable[[Callable[[Database], Awaitable[T]]], T]


@pytest.fixture
def outbox(sql: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """The direct connection, with the backlog of other tests out of the way."""
    sql.execute(
        "UPDATE outbox SET published_at = now(), claimed_until = NULL, claim_token = NULL"
        " WHERE published_at IS NULL"
    )
    return sql


def _emit(sql: psycopg.Connection[Any], wallet: uuid.UUID, n: int = 1) -> list[int]:
    seqs = []
    for _ in range(n):
        emitted = sql.execute(
            "SELECT emit_event(NULL, %s, 1, 'TransactionCompleted', '{}'::jsonb)", (wallet,)
        ).fetchone()
        assert emitted is not None
        row = sql.execute("SELECT seq FROM outbox WHERE event_id = %s", emitted).fetchone()
        assert row is not None
        seqs.append(int(row[0]))
    return seqs


def _run_out(sql: psycopg.Connection[Any], claim: pending.Claim) -> None:
    """The lease of `claim` ends (its relay stalled past it)."""
    sql.execute(
        "UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE claim_token = %s",
        (claim.token,),
    )


def _state(sql: psycopg.Connection[Any], seqs: list[int]) -> list[tuple[Any, ...]]:
    """(seq, claim_token, lease live?, published?) per row."""
    return sql.execute(
        "SELECT seq, claim_token, claimed_until > now(), published_at IS NOT NULL FROM outbox"
        " WHERE seq = ANY(%s) ORDER BY seq",
        (seqs,),
    ).fetchall()


async def _claim(db: Database, limit: int = 50) -> pending.Claim:
    async with db.connection() as conn:
        return await pending.claim(conn, limit=limit, lease_s=30)


def test_expired_relay_cannot_release_rows_another_relay_claimed_since(
    outbox: psycopg.Connection[Any], run_db: RunDb[None]
) -> None:
    rows = _emit(outbox, uuid.uuid4(), 2)

    async def go(db: Database) -> None:
        a = await _claim(db)
        assert a.seqs == rows
        _run_out(outbox, a)
        b = await _claim(db)
        assert b.seqs == rows, "B takes the rows of A's expired lease"
        async with db.connection() as conn:
            await pending.release(conn, a.token, a.seqs)  # A wakes up and hands back "its" rows
        assert [r[1] for r in _state(outbox, rows)] == [b.token, b.token], "B's lease stands"
        c = await _claim(db)
        assert c.seqs == [], "no third relay publishes B's rows concurrently"

    run_db(go)


def test_confirmed_rows_of_an_expired_relay_are_recorded_the_rest_stays_with_the_new_holder(
    outbox: psycopg.Connection[Any], run_db: RunDb[None]
) -> None:
    r1, r2, r3 = rows = _emit(outbox, uuid.uuid4(), 3)

    async def go(db: Database) -> None:
        a = await _claim(db)
        _run_out(outbox, a)  # A's confirm for r1 came in, but only after its lease ran out
        b = await _claim(db)
        assert b.seqs == rows
        async with db.connection() as conn:
            # A settles: r1 is in the broker (never lose it), r2 and r3 are B's now
            await pending.mark_published(conn, [r1])
            await pending.release(conn, a.token, [r2, r3])
        first = outbox.execute("SELECT published_at FROM outbox WHERE seq = %s", (r1,)).fetchone()
        assert _state(outbox, rows) == [
            (r1, None, None, True),
            (r2, b.token, True, False),
            (r3, b.token, True, False),
        ]
        assert (await _claim(db)).seqs == [], "r2, r3 are not handed to a third relay"
        async with db.connection() as conn:
            # B sent all three (r1 a second time: at-least-once, deduped by event_id)
            await pending.mark_published(conn, rows)
            await pending.release(conn, b.token, [])
        assert [r[3] for r in _state(outbox, rows)] == [True, True, True]
        again = outbox.execute("SELECT published_at FROM outbox WHERE seq = %s", (r1,)).fetchone()
        assert again == first, "the first publication is the one recorded"

    run_db(go)


def test_row_waits_while_an_earlier_row_of_its_wallet_is_being_released(
    outbox: psycopg.Connection[Any], run_db: RunDb[None], database_url: str
) -> None:
    r1, r2 = _emit(outbox, uuid.uuid4(), 2)

    async def go(db: Database) -> None:
        a = await _claim(db)
        _run_out(outbox, a)
        # A hands r1 back, its transaction not yet committed (the row is locked)
        with psycopg.connect(database_url) as releasing:
            releasing.execute(
                "UPDATE outbox SET claimed_until = NULL, claim_token = NULL"
                " WHERE seq = %s AND claim_token = %s",
                (r1, a.token),
            )
            b_task = asyncio.create_task(_claim(db))
            await asyncio.sleep(0.3)
            assert not b_task.done(), "B waits for r1 instead of skipping it to claim r2"
            releasing.commit()
        b = await asyncio.wait_for(b_task, 10)
        assert b.seqs == [r1, r2], "r2 goes out after r1, by the same relay"

    run_db(go)


def test_row_waits_while_an_earlier_row_of_its_wallet_is_leased_by_another_relay(
    outbox: psycopg.Connection[Any], run_db: RunDb[None]
) -> None:
    r1, r2, r3 = rows = _emit(outbox, uuid.uuid4(), 3)
    [other] = _emit(outbox, uuid.uuid4())

    async def go(db: Database) -> None:
        a = await _claim(db, limit=1)
        assert a.seqs == [r1]
        b = await _claim(db)
        assert b.seqs == [other], "r2, r3 wait for r1; another wallet's row does not"
        _run_out(outbox, a)
        c = await _claim(db, limit=2)
        assert c.seqs == [r1, r2], "the expired r1 is re-claimed with, and before, r2"
        async with db.connection() as conn:
            await pending.release(conn, a.token, [r1])  # no effect: r1 is C's
        assert (await _claim(db)).seqs == [], "r3 waits for r1 and r2 (C's)"
        async with db.connection() as conn:
            await pending.mark_published(conn, c.seqs)
        assert (await _claim(db)).seqs == [r3]
        assert [r[3] for r in _state(outbox, rows)] == [True, True, False]

    run_db(go)


class _FakeExchange:
    """Stands for the broker: every publish is confirmed and takes `step` seconds of the clock."""

    def __init__(self, clock: list[float], step: float):
        self.clock, self.step, self.sent = clock, step, list[str]()

    async def publish(self, message: aio_pika.Message, **_: Any) -> None:
        self.clock[0] += self.step
        assert message.message_id is not None
        self.sent.append(message.message_id)


def test_relay_stops_publishing_when_its_lease_runs_out_and_hands_back_the_rest(
    outbox: psycopg.Connection[Any], run_db: RunDb[None]
) -> None:
    rows = _emit(outbox, uuid.uuid4(), 5)
    now = [1000.0]
    broker = _FakeExchange(now, step=6.0)

    async def go(db: Database) -> None:
        config = RelayConfig(batch_size=50, lease_s=30, confirm_timeout_s=10)
        relay = Relay(db, "amqp://unused", config, clock=lambda: now[0])
        # publishes at t = 0, 6, 12, 18 (the lease outlives the confirm timeout), not at 24
        assert await relay.publish_batch(cast(AbstractExchange, broker)) == 4
        assert [r[1:] for r in _state(outbox, rows)] == [(None, None, True)] * 4 + [
            (None, None, False)
        ], "the fifth row was handed back"
        assert (await _claim(db)).seqs == rows[4:]

    run_db(go)
    assert len(broker.sent) == 4


def test_lease_must_outlive_the_confirm_timeout() -> None:
    with pytest.raises(ValueError, match="lease_s"):
        RelayConfig(lease_s=5, confirm_timeout_s=10)


def test_three_relays_interleaved_publish_every_row_in_wallet_order_never_concurrently(
    outbox: psycopg.Connection[Any], run_db: RunDb[None]
) -> None:
    """Random interleavings of claim / publish / stall past the lease / settle by three relays:
    whenever a relay publishes a row, it alone holds a live lease on it; per wallet, the first
    publications come in seq order; every row is published."""
    rnd = random.Random(20261124)
    wallets = [uuid.uuid4() for _ in range(4)]
    wallet_of: dict[int, uuid.UUID] = {}
    for i in range(40):
        w = wallets[i % len(wallets)] if i % 7 else wallets[rnd.randrange(len(wallets))]
        for s in _emit(outbox, w):
            wallet_of[s] = w
    published: list[int] = []

    async def go(db: Database) -> None:
        held: dict[str, tuple[pending.Claim, list[int]] | None] = dict.fromkeys("ABC")
        expired: set[uuid.UUID] = set()
        for _ in range(2000):
            if len(set(published)) == len(wallet_of) and not any(held.values()):
                return
            name = rnd.choice("ABC")
            current = held[name]
            async with db.connection() as conn:
                if current is None:
                    claim = await pending.claim(conn, limit=rnd.randint(1, 6), lease_s=30)
                    held[name] = (claim, []) if claim.rows else None
                    continue
                claim, sent = current
                action = rnd.random()
                unsent = [s for s in claim.seqs if s not in sent]
                if action < 0.1:  # stalls past its lease: it will stop and hand back the rest
                    _run_out(outbox, claim)
                    expired.add(claim.token)
                    continue
                if claim.token in expired:
                    # like Relay.publish_batch, it knows from its own clock that its lease ran
                    # out: it publishes no more, and settles once it wakes up
                    if action < 0.6:
                        continue  # still stalled, while the others go on
                elif action < 0.8 and unsent:
                    seq = unsent[0]
                    holder = _state(outbox, [seq])[0]
                    assert holder[1:3] == (claim.token, True), f"{name} publishes {seq} alone"
                    published.append(seq)
                    sent.append(seq)
                    continue
                await pending.mark_published(conn, sent)
                await pending.release(conn, claim.token, unsent)
                held[name] = None
        raise AssertionError("the relays did not drain the outbox")

    run_db(go)
    assert set(published) == set(wallet_of)
    seen: set[int] = set()
    last: dict[uuid.UUID, int] = {}
    for seq in published:
        if seq not in seen:
            seen.add(seq)
            assert seq > last.get(wallet_of[seq], 0), f"seq {seq} out of wallet order"
            last[wallet_of[seq]] = seq
