"""GET /events: committed outbox events, oldest first, paged with an opaque cursor that never
skips an event whose transaction committed late."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.support import Company


def _all_events(
    company: Company, after: str | None = None, limit: int = 3, settled: bool = True
) -> tuple[list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    cursor = after
    while True:
        page = company.events(cursor, limit=limit, settled=settled)
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


def test_an_uncommitted_event_holds_back_later_ones(company: Company, database_url: str) -> None:
    """A transaction that wrote an outbox row but has not committed yet must not be passed over:
    readers see nothing after it until it ends, then see both, in order."""
    alice = company.member(balance="5.00")
    _, cursor = _all_events(company)
    with psycopg.connect(database_url) as slow:
        slow.execute(
            "SELECT emit_event(%s, %s, 0, 'TestEvent', '{}'::jsonb)",
            (str(company.company_id), alice.wallet_id),
        )
        company.debit(alice.wallet_id, "1.00")  # commits while `slow` is still open
        pending, _ = _all_events(company, after=cursor, settled=False)
        assert pending == []
        slow.commit()
    after_commit, _ = _all_events(company, after=cursor)
    assert [e["event_type"] for e in after_commit] == ["TestEvent", "TransactionCompleted"]


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
