"""GET /events: committed outbox events, oldest first, paged with an opaque cursor that never
skips an event whose transaction committed late."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import psycopg
import pytest
from alembic import command
from psycopg.types.json import Jsonb

from tests.support import Company, with_database
from wallet_service import jobs
from wallet_service.db.migrate import alembic_config, migrate
from wallet_service.db.pool import Database
from wallet_service.events import outbox


def _all_events(
    company: Company, after: str | None = None, limit: int = 3
) -> tuple[list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    cursor = after
    while True:
        page = company.events(cursor, limit=limit)
        events.extend(page["events"])
        if page["next"] == cursor or not page["events"]:
            return events, page["next"]
        cursor = page["next"]


def test_cursor_pages_through_every_event_once(company: Company) -> None:
    alice = company.member(balance="20.00")
    for _ in range(4):
        company.debit(alice.wallet_id, "1.00")
    events, cursor = _all_events(company)
    types = [e["event_type"] for e in events]
    assert types == ["WalletCreated"] + ["TransactionCompleted"] * 5
    assert len({e["event_id"] for e in events}) == len(events)
    company.debit(alice.wallet_id, "1.00")
    more, _ = _all_events(company, after=cursor)
    assert [e["data"]["new_balance"] for e in more] == ["15.00"]


def test_an_event_committed_late_is_served_not_skipped(company: Company, database_url: str) -> None:
    """A transaction that wrote an outbox row commits after a later one: readers get the later
    event at once (not held back), and the late one after it commits, after the cursor they
    hold (not skipped)."""
    alice = company.member(balance="5.00")
    _, cursor = _all_events(company)
    with psycopg.connect(database_url) as slow:
        slow.execute(
            "SELECT emit_event(%s, %s, 0, 'TestEvent', '{}'::jsonb)",
            (str(company.company_id), alice.wallet_id),
        )
        company.debit(alice.wallet_id, "1.00")  # commits while `slow` is still open
        early, cursor = _all_events(company, after=cursor)
        assert [e["event_type"] for e in early] == ["TransactionCompleted"]
        slow.commit()
    late, _ = _all_events(company, after=cursor)
    assert [e["event_type"] for e in late] == ["TestEvent"]


@pytest.mark.parametrize("where", ["another database", "this database"])
def test_open_transactions_elsewhere_do_not_hold_back_the_feed(
    company: Company, database_url: str, where: str
) -> None:
    """An idle session with a transaction open (and a transaction id), in another database of the
    server or in this one, holds back nothing: the feed is ordered by commit, not by the oldest
    transaction still running in the cluster."""
    alice = company.member(balance="5.00")
    _, cursor = _all_events(company)
    url = with_database(database_url, "postgres") if where == "another database" else database_url
    with psycopg.connect(url) as idle:
        idle.execute("SELECT pg_current_xact_id()")  # open, with an id, and left idle
        company.debit(alice.wallet_id, "1.00")
        events, _ = _all_events(company, after=cursor)
        assert [e["data"]["new_balance"] for e in events] == ["4.00"]


def test_rolled_back_changes_publish_nothing(company: Company, database_url: str) -> None:
    alice = company.member(balance="5.00")
    _, cursor = _all_events(company)
    with psycopg.connect(database_url) as conn:
        posting = Jsonb([{"op": "DEBIT", "wallet_id": str(alice.wallet_id), "amount": "1.00"}])
        conn.execute("SELECT ledger_apply(%s)", (posting,))
        conn.rollback()
    company.debit(alice.wallet_id, "9.00")  # refused: insufficient funds
    events, _ = _all_events(company, after=cursor)
    assert events == []
    assert company.wallet(alice)["balance"] == "5.00"


def test_events_committed_concurrently_are_all_delivered(company: Company) -> None:
    alice = company.member(balance="100.00")
    _, cursor = _all_events(company)
    threads = [
        threading.Thread(target=company.debit, args=(alice.wallet_id, "1.00")) for _ in range(30)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events, _ = _all_events(company, after=cursor, limit=7)
    assert len(events) == 30
    assert sorted(e["data"]["new_balance"] for e in events) == sorted(
        f"{n}.00" for n in range(70, 100)
    )


def test_system_sees_every_company(company: Company) -> None:
    company.member()
    feed = company.system.get("/events", params={"limit": 1000}).json()
    assert isinstance(feed["next"], str) and feed["events"]
    assert all(uuid.UUID(e["event_id"]) for e in feed["events"])


def test_events_carry_the_wallet_version(company: Company) -> None:
    """Each event names the wallet's version after the change it announces, so a consumer can
    order a wallet's events (or drop stale ones) whatever order they arrive in."""
    alice = company.member(balance="5.00")
    company.debit(alice.wallet_id, "1.00")
    r = company.system.put(f"/wallets/{alice.wallet_id}/status", json={"status": "FROZEN"})
    assert r.status_code == 200, r.text
    events, _ = _all_events(company, limit=100)
    assert [(e["event_type"], e["wallet_version"]) for e in events] == [
        ("WalletCreated", 0),
        ("TransactionCompleted", 1),
        ("TransactionCompleted", 2),
        ("WalletStatusChanged", 3),
    ]
    assert company.wallet(alice)["version"] == 3


def test_feed_positions_are_gap_free_under_concurrent_readers_and_writers(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    """Readers sequence on demand while writers commit: every event is served once, in one order
    all readers agree on, and positions are given without gaps or repeats."""
    alice = company.member(balance="100.00")
    _, cursor = _all_events(company)
    pages: list[list[str]] = []

    def read_all() -> None:
        pages.append([e["event_id"] for e in _all_events(company, after=cursor, limit=7)[0]])

    writers = [
        threading.Thread(target=company.debit, args=(alice.wallet_id, "1.00")) for _ in range(30)
    ]
    readers = [threading.Thread(target=read_all) for _ in range(4)]
    for t in writers + readers:
        t.start()
    for t in writers + readers:
        t.join()
    final, _ = _all_events(company, after=cursor, limit=7)
    ids = [e["event_id"] for e in final]
    assert len(ids) == len(set(ids)) == 30
    for page in pages:  # what each reader saw is a prefix of the final order
        assert page == ids[: len(page)]
    row = sql.execute("SELECT count(feed_pos), max(feed_pos) FROM outbox").fetchone()
    assert row is not None and row[0] == row[1], "feed positions have no gaps"


def test_the_sequence_job_places_committed_events(
    company: Company, sql: psycopg.Connection[Any], run_db: Any
) -> None:
    alice = company.member()
    with psycopg.connect(sql.info.dsn) as writer:
        for _ in range(3):
            writer.execute(
                "SELECT emit_event(%s, %s, 0, 'TestEvent', '{}'::jsonb)",
                (str(company.company_id), alice.wallet_id),
            )
    assert run_db(lambda db: jobs.sequence_events(db, jobs.utcnow())) >= 3
    rows = sql.execute(
        "SELECT feed_pos FROM outbox WHERE company_id = %s AND event_type = 'TestEvent'",
        (str(company.company_id),),
    ).fetchall()
    positions = sorted(p for (p,) in rows)
    assert positions == list(range(positions[0], positions[0] + 3))
    assert run_db(lambda db: jobs.sequence_events(db, jobs.utcnow())) == 0


def test_the_migration_keeps_the_order_and_the_cursors_served_before_it(database_url: str) -> None:
    """Rows written before feed positions existed are numbered in the order the feed served them,
    (txid, seq); a cursor of that time ("txid-seq") continues after its row."""
    name = f"wallet_feed_{uuid.uuid4().hex[:10]}"
    admin = with_database(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url, name)
    try:
        command.upgrade(alembic_config(url), "0006")
        insert = "INSERT INTO outbox (event_type, data) VALUES (%s, '{}') RETURNING seq"
        with psycopg.connect(url) as first, psycopg.connect(url) as second:
            first.execute("SELECT pg_current_xact_id()")  # the older transaction id
            (second_seq,) = second.execute(insert, ("Second",)).fetchone() or ()
            second.commit()
            (first_seq,) = first.execute(insert, ("First",)).fetchone() or ()
            first.commit()
        assert first_seq > second_seq
        with psycopg.connect(url) as conn:
            (txid,) = (
                conn.execute(
                    "SELECT txid::text FROM outbox WHERE seq = %s", (first_seq,)
                ).fetchone()
                or ()
            )
        migrate(url)

        async def read(cursor: str | None) -> list[str]:
            db = await Database.connect(url, max_size=1)
            try:
                async with db.connection() as conn:
                    page = await outbox.feed(conn, company_id=None, after=cursor, limit=10)
                    return [e["event_type"] for e in page["events"]]
            finally:
                await db.close()

        assert asyncio.run(read(None)) == ["First", "Second"]
        assert asyncio.run(read(f"{txid}-{first_seq}")) == ["Second"]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
