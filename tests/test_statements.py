"""GET /wallets/{walletId}/statement and GET /wallets/{walletId}/balance: opening and closing
balances from balance_after, entries dated by when their money moved, JSON and CSV, scope.

History is made through the real API, in order, then dated in the past with SQL (the API always
stamps "now"), so balance_after stays consistent with the dates."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from tests.support import Company, Member, booking, hold

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def backdate(
    sql: psycopg.Connection[Any], txn_id: str, created: str, updated: str | None = None
) -> None:
    """Date an entry in the past: created_at, and updated_at (a capture's instant) if given."""
    sql.execute(
        "UPDATE transactions SET created_at = %s, updated_at = %s WHERE txn_id = %s",
        (at(created), at(updated or created), txn_id),
    )


def last_txn(company: Company, member: Member) -> str:
    txn_id: str = company.transactions(member)[0]["txn_id"]
    return txn_id


def march_history(company: Company, sql: psycopg.Connection[Any]) -> tuple[Member, Member]:
    """Alice's ledger (balance after each step):
    Feb 27 credit 100 (100), Feb 28 23:59:59.999999 debit 30 (70) | March: Mar 1 00:00 credit 50
    (120), Mar 10 transfer 20 to Bob (100), Mar 15 booking 25 (75), Mar 20 its refund 10 (85),
    Mar 21 a hold of 40 (placed, no balance change), Mar 31 23:59:59.999999 debit 5 (80) |
    Apr 2 the hold captured for 15 (65). Also: a refused booking and an open hold (never in a
    statement)."""
    alice = company.member(balance="100.00")
    bob = company.member()
    backdate(sql, last_txn(company, alice), "2025-02-27T10:00:00")
    assert company.debit(alice.wallet_id, "30.00").status_code == 201
    backdate(sql, last_txn(company, alice), "2025-02-28T23:59:59.999999")
    company.credit(alice.wallet_id, "50.00", description='=HYPERLINK("http://x")')
    backdate(sql, last_txn(company, alice), "2025-03-01T00:00:00")
    r = company.admin.post(
        "/transfers",
        json={"from_wallet_id": alice.wallet_id, "to_wallet_id": bob.wallet_id, "amount": "20"},
    )
    assert r.status_code == 201, r.text
    sql.execute(
        "UPDATE transactions SET created_at = %s, updated_at = %s WHERE transfer_id = %s",
        (at("2025-03-10T09:00:00"), at("2025-03-10T09:00:00"), r.json()["transfer_id"]),
    )
    trip = booking(alice, "25.00")
    assert company.event("BookingCreated", trip).status_code == 200
    backdate(sql, last_txn(company, alice), "2025-03-15T12:00:00")
    refund = {
        "booking_id": trip["booking_id"],
        "user_id": str(alice.user_id),
        "refund_amount": "10",
    }
    assert company.event("BookingCancelled", refund).status_code == 200
    backdate(sql, last_txn(company, alice), "2025-03-20T08:30:00")
    refused = company.event("BookingCreated", booking(alice, "5000.00")).json()["result"]
    assert refused["status"] == "FAILED"
    backdate(sql, refused["txn_id"], "2025-03-22T00:00:00")
    held = hold(company, alice.wallet_id, "40.00").json()
    assert company.debit(alice.wallet_id, "5.00").status_code == 201
    backdate(sql, last_txn(company, alice), "2025-03-31T23:59:59.999999")
    r = company.system.post(f"/transactions/{held['txn_id']}/capture", json={"amount": "15"})
    assert r.status_code == 200, r.text
    backdate(sql, held["txn_id"], "2025-03-21T10:00:00", "2025-04-02T10:00:00")
    still_open = hold(company, alice.wallet_id, "1.00").json()
    backdate(sql, still_open["txn_id"], "2025-03-25T00:00:00")
    return alice, bob


def test_statement_balances_and_entries(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice, _ = march_history(company, sql)
    r = company.admin.get(f"/wallets/{alice.wallet_id}/statement", params=MARCH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    s = r.json()
    assert list(s)[:10] == [
        "wallet_id",
        "user_id",
        "currency",
        "from",
        "to",
        "opening_balance",
        "closing_balance",
        "total_credits",
        "total_debits",
        "count",
    ]
    assert (s["wallet_id"], s["user_id"], s["currency"]) == (
        alice.wallet_id,
        str(alice.user_id),
        "USD",
    )
    assert (s["from"], s["to"]) == ("2025-03-01", "2025-03-31")
    assert (s["opening_balance"], s["closing_balance"]) == ("70.00", "80.00")
    assert (s["total_credits"], s["total_debits"], s["count"]) == ("60.00", "50.00", 5)
    opening, credits, debits = (
        Decimal(s[k]) for k in ("opening_balance", "total_credits", "total_debits")
    )
    assert opening + credits - debits == Decimal(s["closing_balance"])
    entries = s["entries"]
    assert [(e["type"], e["amount"], e["balance_after"]) for e in entries] == [
        ("CREDIT", "50.00", "120.00"),
        ("TRANSFER_OUT", "20.00", "100.00"),
        ("DEBIT", "25.00", "75.00"),
        ("CREDIT", "10.00", "85.00"),
        ("DEBIT", "5.00", "80.00"),
    ]
    assert {e["status"] for e in entries} == {"COMPLETED"}
    assert entries[3]["reference_type"] == "BOOKING_REFUND"
    assert entries[0]["posted_at"].startswith("2025-03-01T00:00:00")
    assert entries[-1]["posted_at"].startswith("2025-03-31T23:59:59.999999")


def test_a_captured_hold_is_dated_by_its_capture(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice, _ = march_history(company, sql)
    april = company.admin.get(
        f"/wallets/{alice.wallet_id}/statement", params={"from": "2025-04-01", "to": "2025-04-30"}
    ).json()
    assert (april["opening_balance"], april["closing_balance"]) == ("80.00", "65.00")
    (capture,) = april["entries"]
    assert (capture["amount"], capture["hold_amount"], capture["balance_after"]) == (
        "15.00",
        "40.00",
        "65.00",
    )
    assert capture["created_at"].startswith("2025-03-21")  # placed in March, money moved in April
    assert capture["posted_at"].startswith("2025-04-02")


def test_balance_as_of(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice, _ = march_history(company, sql)

    def balance(as_of: str) -> str:
        r = company.admin.get(f"/wallets/{alice.wallet_id}/balance", params={"as_of": as_of})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["wallet_id"], body["currency"]) == (alice.wallet_id, "USD")
        value: str = body["balance"]
        return value

    assert balance("2025-01-01T00:00:00Z") == "0.00"  # before the first entry
    assert balance("2025-02-27T10:00:00Z") == "100.00"  # at an entry's instant: included
    assert balance("2025-02-27T09:59:59.999999Z") == "0.00"
    assert balance("2025-03-15T13:00:00+01:00") == "75.00"  # 12:00 UTC: the booking included
    assert balance("2025-03-15T12:59:59+01:00") == "100.00"
    assert balance("2025-03-31") == "80.00"  # a date: the end of that day
    assert balance("2025-04-01T12:00:00") == "80.00"  # naive: UTC; the hold is still open
    assert balance("2025-04-02T10:00:00Z") == "65.00"  # captured
    now = company.admin.get(f"/wallets/{alice.wallet_id}/balance").json()
    assert now["balance"] == company.wallet(alice)["balance"] == "65.00"
    r = company.admin.get(f"/wallets/{alice.wallet_id}/balance", params={"as_of": "2025-03-31"})
    assert r.json()["as_of"].startswith("2025-03-31T23:59:59.999999")


def test_statement_as_csv(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice, _ = march_history(company, sql)
    r = company.admin.get(
        f"/wallets/{alice.wallet_id}/statement", params={**MARCH, "format": "csv"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    header = r.text.splitlines()[0].split(",")
    assert {"txn_id", "created_at", "type", "amount", "balance_after"} <= set(header)
    json_entries = company.admin.get(f"/wallets/{alice.wallet_id}/statement", params=MARCH).json()[
        "entries"
    ]
    assert [row["txn_id"] for row in rows] == [e["txn_id"] for e in json_entries]
    assert [(row["type"], row["amount"], row["balance_after"]) for row in rows] == [
        (e["type"], e["amount"], e["balance_after"]) for e in json_entries
    ]
    # a spreadsheet shows a description starting with "=" as text, never runs it
    assert rows[0]["description"] == '\'=HYPERLINK("http://x")'


def test_statement_defaults_to_the_current_month(company: Company) -> None:
    alice = company.member(balance="12.34")
    company.debit(alice.wallet_id, "2.34")
    s = alice.api.get(f"/wallets/{alice.wallet_id}/statement").json()
    today = datetime.now(UTC).date()
    assert s["from"] == today.replace(day=1).isoformat()
    assert s["to"][:7] == today.isoformat()[:7] and s["to"] >= today.isoformat()
    assert (s["opening_balance"], s["closing_balance"], s["count"]) == ("0.00", "10.00", 2)


def test_a_long_statement_is_streamed_and_complete(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    """1,500 credits (two batches), then stamped with one instant, as entries that cannot be told
    apart in time: the closing balance is still exact (then the sum of the entries), and the whole
    statement arrives, in chunks."""
    alice = company.member()
    for size in (1000, 500):
        postings = [
            {
                "wallet_id": alice.wallet_id,
                "amount": "1.25",
                "type": "CREDIT",
                "description": "bulk",
            }
        ] * size
        r = company.system.post("/transactions/batch", json={"atomic": True, "postings": postings})
        assert r.status_code == 201, r.text
    sql.execute(
        "UPDATE transactions SET created_at = now(), updated_at = now() WHERE wallet_id = %s",
        (alice.wallet_id,),
    )
    with company.admin.client.stream("GET", f"/wallets/{alice.wallet_id}/statement") as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers  # streamed
        chunks = list(r.iter_raw())
    s = orjson.loads(b"".join(chunks))
    assert s["count"] == len(s["entries"]) == 1500
    assert (s["closing_balance"], s["total_credits"]) == ("1875.00", "1875.00")
    balance = company.admin.get(f"/wallets/{alice.wallet_id}/balance").json()["balance"]
    assert balance == "1875.00"
    csv_text = company.admin.get(
        f"/wallets/{alice.wallet_id}/statement", params={"format": "csv"}
    ).text
    assert len(csv_text.splitlines()) == 1501


def test_statement_and_balance_scope(company: Company) -> None:
    manager = company.member("MANAGER")
    alice = company.member(manager=manager, balance="5.00")
    carol = company.member(balance="5.00")
    paths = [f"/wallets/{alice.wallet_id}/statement", f"/wallets/{alice.wallet_id}/balance"]
    for path in paths:
        assert alice.api.get(path).status_code == 200  # USER: own wallet
        assert manager.api.get(path).status_code == 200  # MANAGER: their team
        assert company.admin.get(path).status_code == 200
        assert company.system.get(path).status_code == 200
        r = carol.api.get(path)
        assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
        other = Company(company.base_url)
        r = other.admin.get(path)  # another company: not even its existence
        assert (r.status_code, r.json()["code"]) == (404, "WALLET_NOT_FOUND")
        r = company.admin.client.get(path, headers={"Authorization": "Bearer nope"})
        assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")
    r = manager.api.get(f"/wallets/{carol.wallet_id}/statement")
    assert r.status_code == 403
    unknown = "00000000-0000-4000-8000-000000000001"
    r = company.admin.get(f"/wallets/{unknown}/statement")
    assert (r.status_code, r.json()["code"]) == (404, "WALLET_NOT_FOUND")


def test_statement_and_balance_validation(company: Company) -> None:
    alice = company.member()
    path = f"/wallets/{alice.wallet_id}"
    for params in (
        {"from": "2025-03-02", "to": "2025-03-01"},
        {"from": "2025-02-30"},
        {"from": "0001-01-01"},
        {"format": "xml"},
    ):
        r = company.admin.get(f"{path}/statement", params=params)
        assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR"), params
    r = company.admin.get(f"{path}/balance", params={"as_of": "yesterday"})
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR")
    r = company.admin.get("/wallets/not-a-uuid/statement")
    assert r.status_code == 422
