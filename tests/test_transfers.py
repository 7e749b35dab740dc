"""POST /transfers: two legs in one database transaction, scope, currency and status rules,
idempotency, and a ring of concurrent transfers that never deadlocks nor loses a cent."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg

from tests.support import Api, Company, hold, published, set_status, token


def _transfer(api: Api, src: str, dst: str, amount: str, **kw: Any) -> Any:
    headers = kw.pop("headers", None)
    body = {"from_wallet_id": src, "to_wallet_id": dst, "amount": amount, **kw}
    return api.post("/transfers", json=body, headers=headers)


def _wallet(sql: psycopg.Connection[Any], wallet_id: str) -> tuple[Decimal, Decimal]:
    row = sql.execute(
        "SELECT balance, held_amount FROM wallets WHERE wallet_id = %s", (wallet_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_transfer_writes_both_legs_linked_by_transfer_id(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    bob = company.member(balance="5.00")

    r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "30.25", description="lunch")

    assert r.status_code == 201, r.text
    body = r.json()
    debit, credit = body["debit"], body["credit"]
    assert debit["type"] == "TRANSFER_OUT" and credit["type"] == "TRANSFER_IN"
    assert debit["status"] == credit["status"] == "COMPLETED"
    assert debit["amount"] == credit["amount"] == "30.25"
    assert debit["wallet_id"] == alice.wallet_id and credit["wallet_id"] == bob.wallet_id
    assert debit["transfer_id"] == credit["transfer_id"] == body["transfer_id"]
    assert debit["balance_after"] == "69.75" and credit["balance_after"] == "35.25"
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("69.75")
    assert _wallet(sql, bob.wallet_id)[0] == Decimal("35.25")
    # both legs are readable as ordinary transactions
    got = company.admin.get(f"/transactions/{debit['txn_id']}")
    assert got.status_code == 200 and got.json()["transfer_id"] == body["transfer_id"]

    completed = [e for e in published(company, "TransactionCompleted") if e.get("transfer_id")]
    assert {(e["type"], e["new_balance"]) for e in completed} == {
        ("TRANSFER_OUT", "69.75"),
        ("TRANSFER_IN", "35.25"),
    }
    (done,) = published(company, "TransferCompleted")
    assert done["transfer_id"] == body["transfer_id"] and done["amount"] == "30.25"


def test_system_may_transfer_within_a_company(company: Company) -> None:
    alice, bob = company.member(balance="10.00"), company.member()
    r = _transfer(company.system, alice.wallet_id, bob.wallet_id, "10.00", reference_id="r-1")
    assert r.status_code == 201, r.text
    assert r.json()["debit"]["balance_after"] == "0.00"
    assert r.json()["credit"]["reference_id"] == "r-1"
    r = _transfer(company.system, alice.wallet_id, bob.wallet_id, "0.01")
    assert r.status_code == 409 and r.json()["code"] == "INSUFFICIENT_FUNDS"


def test_a_wallet_cannot_pay_itself(company: Company) -> None:
    alice = company.member(balance="10.00")
    r = _transfer(company.admin, alice.wallet_id, alice.wallet_id, "1.00")
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"


def test_bad_amounts_and_unknown_fields_are_refused(company: Company) -> None:
    alice, bob = company.member(balance="10.00"), company.member()
    for amount in ("0", "-1.00", "1.001", "abc"):
        r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, amount)
        assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", amount
    r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "1.00", metadata={})
    assert r.status_code == 422


def test_currency_mismatch(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member(balance="10.00")
    euro = company.member()
    sql.execute("UPDATE wallets SET currency = 'EUR' WHERE wallet_id = %s", (euro.wallet_id,))
    r = _transfer(company.admin, alice.wallet_id, euro.wallet_id, "1.00")
    assert r.status_code == 409 and r.json()["code"] == "CURRENCY_MISMATCH"
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("10.00")


def test_source_needs_available_funds_net_of_holds(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice, bob = company.member(balance="50.00"), company.member()
    assert hold(company, alice.wallet_id, "30.00").status_code == 201

    r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "20.01")
    assert r.status_code == 409 and r.json()["code"] == "INSUFFICIENT_FUNDS"
    assert _wallet(sql, alice.wallet_id) == (Decimal("50.00"), Decimal("30.00"))
    assert _wallet(sql, bob.wallet_id)[0] == Decimal("0.00")

    r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "20.00")
    assert r.status_code == 201, r.text
    assert _wallet(sql, alice.wallet_id) == (Decimal("30.00"), Decimal("30.00"))


def test_status_rules(company: Company, sql: psycopg.Connection[Any]) -> None:
    """Source must be ACTIVE; a FROZEN destination still receives; a CLOSED one never."""
    alice, frozen, closed = company.member(balance="50.00"), company.member(), company.member()
    set_status(company, frozen.wallet_id, "FROZEN")
    set_status(company, closed.wallet_id, "CLOSED")

    r = _transfer(company.admin, alice.wallet_id, frozen.wallet_id, "10.00")
    assert r.status_code == 201, r.text
    r = _transfer(company.admin, frozen.wallet_id, alice.wallet_id, "1.00")
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    r = _transfer(company.admin, alice.wallet_id, closed.wallet_id, "1.00")
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("40.00")
    assert _wallet(sql, frozen.wallet_id)[0] == Decimal("10.00")


def test_transfers_do_not_count_against_budgets(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice, bob = company.member(balance="100.00"), company.member()
    sql.execute(
        """INSERT INTO budgets (company_id, wallet_id, total_amount, start_date, end_date,
                                created_by)
           VALUES (%s, %s, 10, current_date - 1, current_date + 1, %s)""",
        (company.company_id, alice.wallet_id, company.admin_id),
    )
    r = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "60.00")
    assert r.status_code == 201, r.text
    row = sql.execute(
        "SELECT used_amount, reserved_amount FROM budgets WHERE wallet_id = %s",
        (alice.wallet_id,),
    ).fetchone()
    assert row == (Decimal("0.00"), Decimal("0.00"))


def test_scope_manager_team_only(company: Company) -> None:
    manager = company.member("MANAGER", balance="10.00")
    mate1 = company.member(manager=manager, balance="10.00")
    mate2 = company.member(manager=manager)
    outsider = company.member(balance="10.00")

    r = _transfer(manager.api, mate1.wallet_id, mate2.wallet_id, "4.00")
    assert r.status_code == 201, r.text
    # "MANAGER (team)": a manager moves their team's money, never into or out of their own wallet
    r = _transfer(manager.api, manager.wallet_id, mate2.wallet_id, "1.00")
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    r = _transfer(manager.api, mate1.wallet_id, manager.wallet_id, "1.00")
    assert r.status_code == 403
    assert company.wallet(manager)["balance"] == "10.00"
    r = _transfer(manager.api, mate1.wallet_id, outsider.wallet_id, "1.00")
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    r = _transfer(manager.api, outsider.wallet_id, mate1.wallet_id, "1.00")
    assert r.status_code == 403
    r = _transfer(mate1.api, mate1.wallet_id, mate2.wallet_id, "1.00")
    assert r.status_code == 403


def test_other_company_wallets_are_not_found_and_system_cannot_cross_companies(
    company: Company, base_url: str, sql: psycopg.Connection[Any]
) -> None:
    other = Company(base_url)
    alice = company.member(balance="10.00")
    stranger = other.member(balance="10.00")

    for src, dst in ((alice, stranger), (stranger, alice)):
        r = _transfer(company.admin, src.wallet_id, dst.wallet_id, "1.00")
        assert r.status_code == 404 and r.json()["code"] == "WALLET_NOT_FOUND"
    r = _transfer(company.admin, alice.wallet_id, str(uuid.uuid4()), "1.00")
    assert r.status_code == 404 and r.json()["code"] == "WALLET_NOT_FOUND"

    r = _transfer(company.system, alice.wallet_id, stranger.wallet_id, "1.00")
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"
    assert "companies" in r.json()["detail"]
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("10.00")
    assert _wallet(sql, stranger.wallet_id)[0] == Decimal("10.00")


def test_idempotency_key_replays_and_refuses_another_body(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice, bob = company.member(balance="10.00"), company.member()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "3.00", headers=key)
    again = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "3.00", headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("7.00")

    other = _transfer(company.admin, alice.wallet_id, bob.wallet_id, "4.00", headers=key)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert _wallet(sql, alice.wallet_id)[0] == Decimal("7.00")


def test_concurrent_ring_of_transfers_conserves_money_and_never_deadlocks(
    company: Company, base_url: str, sql: psycopg.Connection[Any]
) -> None:
    """200 transfers in both directions among 5 wallets from 16 threads: every answer is 201 or
    409 INSUFFICIENT_FUNDS (never a deadlock 500), the total is conserved, no balance goes
    negative, and every balance equals the sum of its entries."""
    members = [company.member(balance="100.00") for _ in range(5)]
    ids = [m.wallet_id for m in members]
    rng = random.Random(5)
    jobs = []
    for i in range(200):
        src, dst = rng.sample(ids, 2)
        if i % 2:  # many exactly opposite pairs, the deadlock-prone case
            src, dst = dst, src
        jobs.append((src, dst, f"{rng.randint(1, 6000) / 100:.2f}"))
    bearer = token("ADMIN", company_id=company.company_id, sub=company.admin_id)
    clients = [Api(base_url, bearer) for _ in range(16)]

    def run(n: int) -> list[tuple[int, str]]:
        api = clients[n]
        out = []
        for src, dst, amount in jobs[n::16]:
            r = _transfer(api, src, dst, amount)
            out.append((r.status_code, r.json().get("code", "")))
        return out

    with ThreadPoolExecutor(16) as pool:
        results = [x for chunk in pool.map(run, range(16)) for x in chunk]

    assert all(s == 201 or (s, c) == (409, "INSUFFICIENT_FUNDS") for s, c in results), results
    assert sum(1 for s, _ in results if s == 201) > 100
    rows = sql.execute(
        """SELECT w.balance,
                  coalesce(sum(CASE WHEN t.type IN ('CREDIT', 'TRANSFER_IN') THEN t.amount
                                    ELSE -t.amount END), 0)
           FROM wallets w LEFT JOIN transactions t
             ON t.wallet_id = w.wallet_id AND t.status = 'COMPLETED'
           WHERE w.wallet_id = ANY(%s::uuid[]) GROUP BY w.wallet_id, w.balance""",
        (ids,),
    ).fetchall()
    assert len(rows) == 5
    assert sum(balance for balance, _ in rows) == Decimal("500.00")
    for balance, entries in rows:
        assert balance >= 0
        assert balance == entries
    legs = sql.execute(
        """SELECT count(*) FROM transactions
           WHERE wallet_id = ANY(%s::uuid[]) AND transfer_id IS NOT NULL""",
        (ids,),
    ).fetchone()
    assert legs == (2 * sum(1 for s, _ in results if s == 201),)
