"""The money promise under real concurrency: many debits racing over HTTP on one wallet never
overdraw it, never lose an update, and leave an exact balance equal to its ledger."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg

from tests.support import Company


def test_120_concurrent_debits_never_overdraw(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="50.00")  # room for exactly 50 debits of 1.00
    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda _: company.debit(alice.wallet_id, "1.00"), range(120)))
    codes = [r.status_code for r in answers]
    assert codes.count(201) == 50
    assert codes.count(409) == 70
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"INSUFFICIENT_FUNDS"}
    assert company.wallet(alice)["balance"] == "0.00"
    balances_after = sorted(
        Decimal(r.json()["balance_after"]) for r in answers if r.status_code == 201
    )
    assert balances_after == [Decimal(n) for n in range(50)], "each debit saw the previous one"
    row = sql.execute(
        """SELECT count(*) FILTER (WHERE type = 'DEBIT'),
                  sum(CASE WHEN type = 'CREDIT' THEN amount ELSE -amount END)
           FROM transactions WHERE wallet_id = %s AND status = 'COMPLETED'""",
        (alice.wallet_id,),
    ).fetchone()
    assert row == (50, Decimal("0.00"))


def test_concurrent_credits_and_debits_lose_no_update(company: Company) -> None:
    alice = company.member(balance="1000.00")

    def move(i: int) -> int:
        if i % 2:
            return company.credit(alice.wallet_id, "3.00").status_code
        return company.debit(alice.wallet_id, "2.00").status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        assert set(pool.map(move, range(200))) == {201}
    assert company.wallet(alice)["balance"] == str(
        Decimal("1000.00") + 100 * Decimal("3.00") - 100 * Decimal("2.00")
    )
