"""Credits and debits: balances move exactly, refused debits change nothing, history is
filterable and paged, and a balance always equals the sum of its completed entries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.support import Company


def _ledger_sum(sql: psycopg.Connection[Any], wallet_id: str) -> Decimal:
    row = sql.execute(
        """SELECT coalesce(sum(
                      CASE WHEN type IN ('CREDIT', 'TRANSFER_IN') THEN amount ELSE -amount END), 0)
           FROM transactions WHERE wallet_id = %s AND status = 'COMPLETED'""",
        (wallet_id,),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def test_debit_and_credit_return_the_transaction(company: Company) -> None:
    alice = company.member(balance="100.00")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={
            "amount": 12.5,
            "type": "DEBIT",
            "description": "Taxi",
            "reference_id": "B-1",
            "reference_type": "BOOKING",
            "metadata": {"city": "Pune"},
        },
    )
    assert r.status_code == 201, r.text
    txn = r.json()
    assert txn["amount"] == "12.50" and txn["balance_after"] == "87.50"
    assert (txn["type"], txn["status"], txn["description"]) == ("DEBIT", "COMPLETED", "Taxi")
    assert (txn["reference_id"], txn["reference_type"], txn["metadata"]) == (
        "B-1",
        "BOOKING",
        {"city": "Pune"},
    )
    assert alice.api.get(f"/transactions/{txn['txn_id']}").json() == txn
    wallet = company.wallet(alice)
    assert (wallet["balance"], wallet["available_balance"]) == ("87.50", "87.50")


def test_refused_debit_changes_nothing(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="10.00")
    before = company.events()["next"]
    r = company.debit(alice.wallet_id, "10.01")
    assert r.status_code == 409
    assert r.json()["code"] == "INSUFFICIENT_FUNDS"
    assert "10.00" in r.json()["detail"]
    assert company.wallet(alice)["balance"] == "10.00"
    assert (
        len(alice.api.get(f"/wallets/{alice.wallet_id}/transactions").json()["transactions"]) == 1
    )
    assert company.events(before)["events"] == []
    assert _ledger_sum(sql, alice.wallet_id) == Decimal("10.00")


def test_debit_of_the_whole_balance(company: Company) -> None:
    alice = company.member(balance="0.03")
    assert company.debit(alice.wallet_id, "0.03").json()["balance_after"] == "0.00"
    assert company.debit(alice.wallet_id, "0.01").json()["code"] == "INSUFFICIENT_FUNDS"


def test_history_filters_and_pages(company: Company) -> None:
    alice = company.member(balance="100.00")
    for amount in ("1.00", "2.00", "3.00"):
        assert company.debit(alice.wallet_id, amount).status_code == 201
    path = f"/wallets/{alice.wallet_id}/transactions"
    everything = alice.api.get(path).json()
    assert [t["amount"] for t in everything["transactions"]] == ["3.00", "2.00", "1.00", "100.00"]
    assert everything["pagination"] == {"page": 1, "limit": 20, "total": 4}
    debits = alice.api.get(path, params={"type": "DEBIT", "limit": 2, "page": 2}).json()
    assert [t["amount"] for t in debits["transactions"]] == ["1.00"]
    assert debits["pagination"]["total"] == 3
    assert alice.api.get(path, params={"status": "FAILED"}).json()["transactions"] == []
    newest = everything["transactions"][0]["created_at"]
    oldest = everything["transactions"][-1]["created_at"]
    both_ends = alice.api.get(path, params={"start_date": oldest, "end_date": newest}).json()
    assert both_ends["pagination"]["total"] == 4, "start_date and end_date are inclusive"
    today = newest[:10]
    assert (
        alice.api.get(path, params={"start_date": today, "end_date": today}).json()["pagination"][
            "total"
        ]
        == 4
    )
    assert alice.api.get(path, params={"end_date": "2000-01-01"}).json()["transactions"] == []
    r = alice.api.get(path, params={"start_date": "2030-01-02", "end_date": "2030-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"


def test_balance_equals_sum_of_completed_entries(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="40.00")
    company.debit(alice.wallet_id, "15.55")
    company.credit(alice.wallet_id, "0.10")
    company.debit(alice.wallet_id, "100.00")  # refused
    assert (
        Decimal(company.wallet(alice)["balance"])
        == _ledger_sum(sql, alice.wallet_id)
        == Decimal("24.55")
    )


def test_transaction_completed_events(company: Company) -> None:
    alice = company.member(balance="9.00")
    txn = company.debit(alice.wallet_id, "4.00").json()
    events = company.events()["events"]
    completed = [
        e
        for e in events
        if e["event_type"] == "TransactionCompleted" and e["data"]["txn_id"] == txn["txn_id"]
    ]
    assert len(completed) == 1
    data = completed[0]["data"]
    assert (data["amount"], data["type"], data["new_balance"]) == ("4.00", "DEBIT", "5.00")
    assert data["wallet_id"] == alice.wallet_id and data["user_id"] == str(alice.user_id)
    assert set(completed[0]) >= {"event_id", "event_type", "timestamp", "data"}


def test_database_refuses_a_negative_balance(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    """Even a buggy or manual UPDATE cannot overdraw a wallet: PostgreSQL's CHECKs refuse it."""
    alice = company.member(balance="1.00")
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute("UPDATE wallets SET balance = -1 WHERE wallet_id = %s", (alice.wallet_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute("UPDATE wallets SET held_amount = 2 WHERE wallet_id = %s", (alice.wallet_id,))
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute("UPDATE wallets SET status = 'CLOSED' WHERE wallet_id = %s", (alice.wallet_id,))
