"""Holds (two-phase debits): place, capture (full or partial), void, expiry by the background job,
budget reservations, and the races: each hold is settled at most once, and racing holds never
reserve more than the available balance."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from tests.support import Api, Company, Member, hold, published, set_status, token
from wallet_service.db.pool import Database
from wallet_service.jobs import registry
from wallet_service.ledger.holds import expire_holds


def _wallet(sql: psycopg.Connection[Any], wallet_id: str) -> tuple[Decimal, Decimal]:
    """(balance, held_amount)"""
    row = sql.execute(
        "SELECT balance, held_amount FROM wallets WHERE wallet_id = %s", (wallet_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _capture(company: Company, txn_id: str, amount: str | None = None) -> httpx.Response:
    body = {"amount": amount} if amount is not None else None
    return company.system.post(f"/transactions/{txn_id}/capture", json=body)


def _void(company: Company, txn_id: str) -> httpx.Response:
    return company.system.post(f"/transactions/{txn_id}/void")


def _budget(
    sql: psycopg.Connection[Any], company: Company, member: Member, total: str, enforcement: str
) -> str:
    row = sql.execute(
        """INSERT INTO budgets (company_id, wallet_id, total_amount, start_date, end_date,
                                enforcement, created_by)
           VALUES (%s, %s, %s, current_date - 1, current_date + 1, %s, %s)
           RETURNING budget_id""",
        (company.company_id, member.wallet_id, total, enforcement, company.admin_id),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _budget_state(sql: psycopg.Connection[Any], budget_id: str) -> tuple[Decimal, Decimal]:
    """(used_amount, reserved_amount)"""
    row = sql.execute(
        "SELECT used_amount, reserved_amount FROM budgets WHERE budget_id = %s", (budget_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _entries_match_balance(sql: psycopg.Connection[Any], wallet_id: str) -> bool:
    row = sql.execute(
        """SELECT w.balance = coalesce(sum(CASE WHEN t.type IN ('CREDIT', 'TRANSFER_IN')
                                                THEN t.amount ELSE -t.amount END), 0)
           FROM wallets w LEFT JOIN transactions t
             ON t.wallet_id = w.wallet_id AND t.status = 'COMPLETED'
           WHERE w.wallet_id = %s GROUP BY w.balance""",
        (wallet_id,),
    ).fetchone()
    assert row is not None
    return bool(row[0])


def test_hold_lowers_available_balance_not_balance(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    r = hold(company, alice.wallet_id, "40.00", reference_id="bk-1", reference_type="BOOKING")

    assert r.status_code == 201, r.text
    txn = r.json()
    assert (txn["type"], txn["status"], txn["amount"], txn["hold_amount"]) == (
        "DEBIT",
        "PENDING",
        "40.00",
        "40.00",
    )
    expires = datetime.fromisoformat(txn["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    wallet = company.wallet(alice)
    assert (wallet["balance"], wallet["available_balance"]) == ("100.00", "60.00")
    (placed,) = published(company, "HoldPlaced")
    assert placed["txn_id"] == txn["txn_id"] and placed["amount"] == "40.00"
    assert placed["available_balance"] == "60.00"


def test_hold_refusals_change_nothing(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="50.00")
    r = hold(company, alice.wallet_id, "50.01")
    assert r.status_code == 409 and r.json()["code"] == "INSUFFICIENT_FUNDS"
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = hold(company, alice.wallet_id, "1.00", expires_at=past)
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"
    r = hold(company, alice.wallet_id, "1.00", surprise=True)
    assert r.status_code == 422
    r = hold(company, str(uuid.uuid4()), "1.00")
    assert r.status_code == 404 and r.json()["code"] == "WALLET_NOT_FOUND"
    r = company.admin.post(f"/wallets/{alice.wallet_id}/holds", json={"amount": "1.00"})
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    set_status(company, alice.wallet_id, "FROZEN")
    r = hold(company, alice.wallet_id, "1.00")
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    assert _wallet(sql, alice.wallet_id) == (Decimal("50.00"), Decimal("0.00"))


def test_a_debit_cannot_spend_held_money(company: Company) -> None:
    alice = company.member(balance="100.00")
    assert hold(company, alice.wallet_id, "70.00").status_code == 201
    r = company.debit(alice.wallet_id, "30.01")
    assert r.status_code == 409 and r.json()["code"] == "INSUFFICIENT_FUNDS"
    assert company.debit(alice.wallet_id, "30.00").status_code == 201


def test_full_capture(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="100.00")
    txn = hold(company, alice.wallet_id, "40.00").json()

    r = _capture(company, txn["txn_id"])

    assert r.status_code == 200, r.text
    done = r.json()
    assert (done["status"], done["amount"], done["hold_amount"], done["balance_after"]) == (
        "COMPLETED",
        "40.00",
        "40.00",
        "60.00",
    )
    assert _wallet(sql, alice.wallet_id) == (Decimal("60.00"), Decimal("0.00"))
    assert _entries_match_balance(sql, alice.wallet_id)
    completed = [e for e in published(company, "TransactionCompleted") if e["type"] == "DEBIT"]
    assert [(e["txn_id"], e["amount"], e["new_balance"]) for e in completed] == [
        (txn["txn_id"], "40.00", "60.00")
    ]
    (captured,) = published(company, "HoldCaptured")
    assert (captured["captured_amount"], captured["released_amount"]) == ("40.00", "0.00")


def test_partial_capture_releases_the_rest(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="100.00")
    txn = hold(company, alice.wallet_id, "40.00").json()

    r = _capture(company, txn["txn_id"], "25.50")

    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["hold_amount"]) == ("25.50", "40.00")
    wallet = company.wallet(alice)
    assert (wallet["balance"], wallet["available_balance"]) == ("74.50", "74.50")
    assert _entries_match_balance(sql, alice.wallet_id)


def test_capture_more_than_held_is_refused(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="100.00")
    txn = hold(company, alice.wallet_id, "40.00").json()
    r = _capture(company, txn["txn_id"], "40.01")
    assert r.status_code == 409 and r.json()["code"] == "CAPTURE_EXCEEDS_HOLD"
    assert _wallet(sql, alice.wallet_id) == (Decimal("100.00"), Decimal("40.00"))
    r = _capture(company, txn["txn_id"], "0")
    assert r.status_code == 422
    assert _capture(company, txn["txn_id"], "40.00").status_code == 200


def test_void_releases_everything(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="100.00")
    txn = hold(company, alice.wallet_id, "40.00").json()

    r = _void(company, txn["txn_id"])

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "CANCELLED"
    assert _wallet(sql, alice.wallet_id) == (Decimal("100.00"), Decimal("0.00"))
    (voided,) = published(company, "HoldVoided")
    assert (voided["txn_id"], voided["reason"]) == (txn["txn_id"], "VOIDED")


def test_each_hold_is_settled_at_most_once(company: Company) -> None:
    alice = company.member(balance="100.00")
    voided = hold(company, alice.wallet_id, "10.00").json()["txn_id"]
    captured = hold(company, alice.wallet_id, "10.00").json()["txn_id"]
    assert _void(company, voided).status_code == 200
    assert _capture(company, captured).status_code == 200
    debit = company.debit(alice.wallet_id, "1.00").json()["txn_id"]

    for r in (
        _capture(company, voided),
        _void(company, voided),
        _void(company, captured),
        _capture(company, captured),
        _capture(company, debit),
        _void(company, debit),
    ):
        assert r.status_code == 409 and r.json()["code"] == "HOLD_NOT_PENDING", r.text
    for r in (_capture(company, str(uuid.uuid4())), _void(company, str(uuid.uuid4()))):
        assert r.status_code == 404 and r.json()["code"] == "TRANSACTION_NOT_FOUND"
    assert company.wallet(alice)["balance"] == "89.00"


def test_frozen_wallet_hold_can_be_voided_but_not_captured(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    first = hold(company, alice.wallet_id, "10.00").json()["txn_id"]
    second = hold(company, alice.wallet_id, "20.00").json()["txn_id"]
    set_status(company, alice.wallet_id, "FROZEN")

    r = _capture(company, first)
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    assert _void(company, second).status_code == 200
    assert _wallet(sql, alice.wallet_id) == (Decimal("100.00"), Decimal("10.00"))
    set_status(company, alice.wallet_id, "ACTIVE")
    assert _capture(company, first).status_code == 200


def test_holds_reserve_hard_budgets_and_capture_turns_it_into_usage(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="500.00")
    budget = _budget(sql, company, alice, "100.00", "HARD")

    first = hold(company, alice.wallet_id, "80.00").json()["txn_id"]
    assert _budget_state(sql, budget) == (Decimal("0.00"), Decimal("80.00"))
    r = hold(company, alice.wallet_id, "30.00")
    assert r.status_code == 409 and r.json()["code"] == "BUDGET_EXCEEDED"
    r = company.debit(alice.wallet_id, "30.00")  # reservations count against debits too
    assert r.status_code == 409 and r.json()["code"] == "BUDGET_EXCEEDED"

    assert _capture(company, first, "50.00").status_code == 200
    assert _budget_state(sql, budget) == (Decimal("50.00"), Decimal("0.00"))
    usage = sql.execute(
        "SELECT amount FROM budget_usages WHERE txn_id = %s AND budget_id = %s",
        (first, budget),
    ).fetchone()
    assert usage == (Decimal("50.00"),)

    second = hold(company, alice.wallet_id, "50.00").json()["txn_id"]
    assert _budget_state(sql, budget) == (Decimal("50.00"), Decimal("50.00"))
    assert _void(company, second).status_code == 200
    assert _budget_state(sql, budget) == (Decimal("50.00"), Decimal("0.00"))


def test_soft_budgets_are_not_reserved_but_count_the_capture(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="500.00")
    budget = _budget(sql, company, alice, "10.00", "SOFT")
    txn = hold(company, alice.wallet_id, "30.00")
    assert txn.status_code == 201, txn.text
    assert _budget_state(sql, budget) == (Decimal("0.00"), Decimal("0.00"))
    assert _capture(company, txn.json()["txn_id"]).status_code == 200
    assert _budget_state(sql, budget) == (Decimal("30.00"), Decimal("0.00"))
    assert {e["threshold_percentage"] for e in published(company, "BudgetExceeded")} == {80, 100}


def test_hold_idempotency_key(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="100.00")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = hold(company, alice.wallet_id, "10.00", headers=key)
    again = hold(company, alice.wallet_id, "10.00", headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert _wallet(sql, alice.wallet_id)[1] == Decimal("10.00")
    other = hold(company, alice.wallet_id, "11.00", headers=key)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_capture_of_a_lapsed_hold_is_refused(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    """Between expires_at and the next run of the expiry job, the hold is already dead."""
    alice = company.member(balance="100.00")
    txn = hold(company, alice.wallet_id, "10.00").json()["txn_id"]
    sql.execute(
        "UPDATE transactions SET expires_at = now() - interval '1 second' WHERE txn_id = %s",
        (txn,),
    )
    r = _capture(company, txn)
    assert r.status_code == 409 and r.json()["code"] == "HOLD_NOT_PENDING"
    assert _void(company, txn).status_code == 200


def test_expiry_job_releases_lapsed_holds(
    company: Company, sql: psycopg.Connection[Any], run_db: Any
) -> None:
    alice = company.member(balance="100.00")
    budget = _budget(sql, company, alice, "100.00", "HARD")
    soon = datetime.now(UTC) + timedelta(hours=1)
    lapsing = hold(company, alice.wallet_id, "30.00", expires_at=soon.isoformat()).json()
    lasting = hold(company, alice.wallet_id, "20.00").json()  # 7 days
    assert "expire-holds" in {job.name for job in registry()}

    run_db(lambda db: expire_holds(db, soon - timedelta(seconds=1)))
    assert _wallet(sql, alice.wallet_id)[1] == Decimal("50.00")

    handled = run_db(lambda db: expire_holds(db, soon))
    assert handled >= 1
    assert _wallet(sql, alice.wallet_id) == (Decimal("100.00"), Decimal("20.00"))
    assert _budget_state(sql, budget) == (Decimal("0.00"), Decimal("20.00"))
    got = company.system.get(f"/transactions/{lapsing['txn_id']}").json()
    assert got["status"] == "CANCELLED"
    assert company.system.get(f"/transactions/{lasting['txn_id']}").json()["status"] == "PENDING"
    (expired,) = published(company, "HoldVoided")
    assert (expired["txn_id"], expired["reason"]) == (lapsing["txn_id"], "EXPIRED")
    r = _capture(company, lapsing["txn_id"])
    assert r.status_code == 409 and r.json()["code"] == "HOLD_NOT_PENDING"


def test_expiry_job_is_safe_with_several_instances(
    company: Company, sql: psycopg.Connection[Any], run_db: Any
) -> None:
    members = [company.member(balance="100.00") for _ in range(4)]
    soon = datetime.now(UTC) + timedelta(hours=2)
    txns = [
        hold(company, m.wallet_id, "5.00", expires_at=soon.isoformat()).json()["txn_id"]
        for m in members
        for _ in range(5)
    ]

    async def three_instances(db: Database) -> list[int]:
        return list(await asyncio.gather(*(expire_holds(db, soon) for _ in range(3))))

    counts = run_db(three_instances)
    assert sum(counts) >= len(txns)
    voids = sql.execute(
        """SELECT data->>'txn_id', count(*) FROM outbox WHERE event_type = 'HoldVoided'
           AND data->>'txn_id' = ANY(%s) GROUP BY 1""",
        (txns,),
    ).fetchall()
    assert sorted(voids) == sorted((t, 1) for t in txns)
    for m in members:
        assert _wallet(sql, m.wallet_id) == (Decimal("100.00"), Decimal("0.00"))


def test_racing_holds_never_reserve_more_than_available(
    company: Company, base_url: str, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    clients = [Api(base_url, token("SYSTEM")) for _ in range(16)]

    def place(n: int) -> int:
        r = clients[n % 16].post(f"/wallets/{alice.wallet_id}/holds", json={"amount": "7.00"})
        assert r.status_code in (201, 409), r.text
        return r.status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(place, range(32)))

    assert codes.count(201) == 14  # 14 * 7 = 98 <= 100 < 15 * 7
    assert _wallet(sql, alice.wallet_id) == (Decimal("100.00"), Decimal("98.00"))


def test_concurrent_capture_and_void_exactly_one_wins(
    company: Company, base_url: str, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    txns = [hold(company, alice.wallet_id, "10.00").json()["txn_id"] for _ in range(8)]
    clients = [Api(base_url, token("SYSTEM")) for _ in range(16)]

    def settle(n: int) -> tuple[str, str, int]:
        txn, action = txns[n // 2], ("capture", "void")[n % 2]
        r = clients[n].post(f"/transactions/{txn}/{action}")
        assert r.status_code == 200 or r.json()["code"] == "HOLD_NOT_PENDING", r.text
        return txn, action, r.status_code

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(settle, range(16)))

    captured = 0
    for txn in txns:
        mine = [(action, code) for t, action, code in results if t == txn]
        assert sorted(code for _, code in mine) == [200, 409], mine
        captured += sum(1 for action, code in mine if (action, code) == ("capture", 200))
    balance = Decimal("100.00") - 10 * captured
    assert _wallet(sql, alice.wallet_id) == (balance, Decimal("0.00"))
    assert _entries_match_balance(sql, alice.wallet_id)


def test_capture_and_void_idempotency_keys_replay_the_first_answer(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    first = hold(company, alice.wallet_id, "30.00").json()["txn_id"]
    second = hold(company, alice.wallet_id, "20.00").json()["txn_id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/transactions/{first}/capture"
    a = company.system.post(path, json={"amount": "10.00"}, headers=key)
    b = company.system.post(path, json={"amount": "10.00"}, headers=key)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    c = company.system.post(path, json={"amount": "12.00"}, headers=key)
    assert c.status_code == 409 and c.json()["code"] == "IDEMPOTENCY_KEY_REUSED"

    key = {"Idempotency-Key": str(uuid.uuid4())}
    v1 = company.system.post(f"/transactions/{second}/void", headers=key)
    v2 = company.system.post(f"/transactions/{second}/void", headers=key)
    assert v1.status_code == v2.status_code == 200 and v1.json() == v2.json()
    assert _wallet(sql, alice.wallet_id) == (Decimal("90.00"), Decimal("0.00"))
