"""Budgets on the debit path: which budgets a debit counts against, HARD refusals, SOFT
overspending, racing debits, threshold alerts, and refunds giving usage back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg

from tests.budget_helpers import budget_row, make_budget, month_of, outbox_events, today
from tests.support import Api, Company, token


def _counts(sql: psycopg.Connection[Any], wallet_id: str) -> tuple[int, int, int]:
    row = sql.execute(
        """SELECT (SELECT count(*) FROM transactions WHERE wallet_id = %(w)s),
                  (SELECT count(*) FROM outbox WHERE wallet_id = %(w)s),
                  (SELECT count(*) FROM budget_usages bu JOIN budgets b USING (budget_id)
                   WHERE b.wallet_id = %(w)s)""",
        {"w": wallet_id},
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_a_debit_counts_against_every_active_budget_holding_its_date(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    day = today()
    this_month = make_budget(company.admin, alice, "500")
    this_year = make_budget(
        company.admin,
        alice,
        "5000",
        period_type="YEARLY",
        start_date=f"{day.year}-01-01",
        enforcement="SOFT",
    )
    later = make_budget(company.admin, alice, "1", start_date=f"{day.year + 1}-01-01")
    past = make_budget(company.admin, alice, "1", period_type="QUARTERLY", start_date="2025-01-01")
    suspended = make_budget(
        company.admin, alice, "1", period_type="WEEKLY", start_date=day.isoformat()
    )
    company.admin.put(f"/budgets/{suspended['budget_id']}", json={"status": "SUSPENDED"})

    r = company.debit(alice.wallet_id, "25.00")
    assert r.status_code == 201, r.text
    used = {
        b["budget_id"]: budget_row(sql, b["budget_id"])["used"]
        for b in (this_month, this_year, later, past, suspended)
    }
    assert used == {
        this_month["budget_id"]: "25.00",
        this_year["budget_id"]: "25.00",
        later["budget_id"]: "0.00",
        past["budget_id"]: "0.00",
        suspended["budget_id"]: "0.00",
    }
    listed = {
        b["budget_id"]: b for b in alice.api.get(f"/budgets/{alice.user_id}").json()["budgets"]
    }
    assert (
        listed[this_month["budget_id"]]["used_amount"],
        listed[this_month["budget_id"]]["remaining_amount"],
    ) == ("25.00", "475.00")
    counted = sql.execute(
        "SELECT budget_id::text, amount::text FROM budget_usages WHERE txn_id = %s ORDER BY 1",
        (r.json()["txn_id"],),
    ).fetchall()
    assert counted == sorted(
        [(this_month["budget_id"], "25.00"), (this_year["budget_id"], "25.00")]
    )


def test_hard_budget_refuses_a_debit_past_its_total_and_nothing_changes(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    hard = make_budget(company.admin, alice, "100")
    soft = make_budget(
        company.admin,
        alice,
        "10",
        period_type="YEARLY",
        start_date=f"{today().year}-01-01",
        enforcement="SOFT",
    )
    assert company.debit(alice.wallet_id, "60").status_code == 201
    before = _counts(sql, alice.wallet_id)

    r = company.debit(alice.wallet_id, "40.01")
    assert r.status_code == 409
    assert r.json()["code"] == "BUDGET_EXCEEDED"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert company.wallet(alice)["balance"] == "940.00"
    assert budget_row(sql, hard["budget_id"])["used"] == "60.00"
    assert budget_row(sql, soft["budget_id"])["used"] == "60.00"
    assert _counts(sql, alice.wallet_id) == before  # no entry, no usage, no outbox row

    assert company.debit(alice.wallet_id, "40.00").status_code == 201  # exactly the total is fine
    assert budget_row(sql, hard["budget_id"])["used"] == "100.00"
    assert company.debit(alice.wallet_id, "0.01").json()["code"] == "BUDGET_EXCEEDED"


def test_soft_budget_allows_overspending_and_shows_it(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="500")
    soft = make_budget(company.admin, alice, "100", enforcement="SOFT")
    assert company.debit(alice.wallet_id, "130").status_code == 201
    b = alice.api.get(f"/budgets/{alice.user_id}").json()["budgets"][0]
    assert (b["used_amount"], b["remaining_amount"]) == ("130.00", "-30.00")
    alerts = outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    assert [(e["data"]["threshold_percentage"], e["data"]["exceeded_amount"]) for e in alerts] == [
        (80, "30.00"),
        (100, "30.00"),
    ]
    assert alerts[0]["data"]["budget_id"] == soft["budget_id"]


def test_racing_debits_never_take_a_hard_budget_past_its_total(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    budget = make_budget(company.admin, alice, "155.00")
    n = 40
    barrier = threading.Barrier(n)
    clients = [Api(company.base_url, token("SYSTEM")) for _ in range(n)]

    def debit(i: int) -> tuple[int, str]:
        barrier.wait()
        r = clients[i].post(
            f"/wallets/{alice.wallet_id}/transactions", json={"amount": "10.00", "type": "DEBIT"}
        )
        return r.status_code, r.json().get("code", "")

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(debit, range(n)))

    ok = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] != 201]
    assert len(ok) == 15
    assert set(refused) == {(409, "BUDGET_EXCEEDED")}
    stored = budget_row(sql, budget["budget_id"])
    assert Decimal(stored["used"]) == Decimal("10.00") * len(ok) <= Decimal(stored["total"])
    assert company.wallet(alice)["balance"] == f"{1000 - 10 * len(ok)}.00"
    usage_sum = sql.execute(
        "SELECT sum(amount)::text FROM budget_usages WHERE budget_id = %s", (budget["budget_id"],)
    ).fetchone()
    assert usage_sum == ("150.00",)
    alerts = outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    assert [e["data"]["threshold_percentage"] for e in alerts] == [80]  # 150/155, never 100


def test_one_alert_per_threshold_crossed_never_twice(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    b = make_budget(company.admin, alice, "100", enforcement="SOFT", alert_thresholds=[50, 100])

    def alerts() -> list[tuple[int, str]]:
        return [
            (e["data"]["threshold_percentage"], e["data"]["exceeded_amount"])
            for e in outbox_events(sql, alice.wallet_id, "BudgetExceeded")
        ]

    company.debit(alice.wallet_id, "40")
    assert alerts() == []
    company.debit(
        alice.wallet_id,
        "80",
    )  # 40% -> 120%: both thresholds at once
    assert alerts() == [(50, "20.00"), (100, "20.00")]
    event = outbox_events(sql, alice.wallet_id, "BudgetExceeded")[0]["data"]
    assert (event["budget_id"], event["wallet_id"], event["user_id"]) == (
        b["budget_id"],
        alice.wallet_id,
        str(alice.user_id),
    )
    company.debit(alice.wallet_id, "10")
    assert len(alerts()) == 2  # still above both: nothing new


def test_feed_shows_two_alerts_for_a_debit_crossing_two_thresholds(company: Company) -> None:
    alice = company.member(balance="1000")
    make_budget(company.admin, alice, "100", enforcement="SOFT", alert_thresholds=[50, 100])
    company.debit(alice.wallet_id, "40")
    cursor = company.events()["next"]
    company.debit(alice.wallet_id, "80")
    events = company.events(cursor)["events"]
    exceeded = [e["data"] for e in events if e["event_type"] == "BudgetExceeded"]
    assert [(d["threshold_percentage"], d["exceeded_amount"]) for d in exceeded] == [
        (50, "20.00"),
        (100, "20.00"),
    ]


def test_thresholds_re_arm_when_usage_falls_back_below(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    b = make_budget(company.admin, alice, "100", alert_thresholds=[50])
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={"amount": "60", "type": "DEBIT", "reference_id": "bk-1", "reference_type": "BOOKING"},
    )
    assert r.status_code == 201
    company.credit(alice.wallet_id, "60", reference_id="bk-1", reference_type="BOOKING_REFUND")
    assert budget_row(sql, b["budget_id"])["used"] == "0.00"
    company.debit(alice.wallet_id, "55")  # crosses 50% again: a new crossing, a new alert
    assert [
        e["data"]["threshold_percentage"]
        for e in outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    ] == [50, 50]


def test_changing_the_total_re_evaluates_thresholds(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    b = make_budget(company.admin, alice, "100", alert_thresholds=[50, 80, 100])
    company.debit(alice.wallet_id, "60")
    assert [
        e["data"]["threshold_percentage"]
        for e in outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    ] == [50]
    # lowering the total to 70 puts usage at 85.7%: the 80% crossing is announced now
    company.admin.put(f"/budgets/{b['budget_id']}", json={"total_amount": "70"})
    assert [
        e["data"]["threshold_percentage"]
        for e in outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    ] == [50, 80]
    # raising it to 200 (30%) re-arms everything; crossing 50% again is a new alert
    company.admin.put(f"/budgets/{b['budget_id']}", json={"total_amount": "200"})
    assert budget_row(sql, b["budget_id"])["alerted"] == []
    company.debit(alice.wallet_id, "45")
    assert [
        e["data"]["threshold_percentage"]
        for e in outbox_events(sql, alice.wallet_id, "BudgetExceeded")
    ] == [50, 80, 50]


def _booking(company: Company, wallet_id: str, amount: str, booking: str) -> None:
    r = company.system.post(
        f"/wallets/{wallet_id}/transactions",
        json={
            "amount": amount,
            "type": "DEBIT",
            "reference_id": booking,
            "reference_type": "BOOKING",
        },
    )
    assert r.status_code == 201, r.text


def _refund(company: Company, wallet_id: str, amount: str, booking: str) -> None:
    company.credit(wallet_id, amount, reference_id=booking, reference_type="BOOKING_REFUND")


def test_a_refund_gives_back_what_its_booking_used_to_those_budgets_never_more(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    _booking(company, alice.wallet_id, "50", "before-budgets")  # counted against no budget
    monthly = make_budget(company.admin, alice, "500")
    yearly = make_budget(
        company.admin,
        alice,
        "2000",
        period_type="YEARLY",
        start_date=f"{today().year}-01-01",
        enforcement="SOFT",
    )
    ids = (monthly["budget_id"], yearly["budget_id"])

    def used() -> tuple[str, str]:
        return budget_row(sql, ids[0])["used"], budget_row(sql, ids[1])["used"]

    _booking(company, alice.wallet_id, "100", "bk-1")
    _booking(company, alice.wallet_id, "50", "bk-2")
    assert used() == ("150.00", "150.00")
    _refund(company, alice.wallet_id, "30", "bk-1")  # partial
    assert used() == ("120.00", "120.00")
    _refund(company, alice.wallet_id, "100", "bk-1")  # more than is left of bk-1: only 70
    assert used() == ("50.00", "50.00")
    _refund(company, alice.wallet_id, "10", "bk-1")  # bk-1 fully given back already
    _refund(company, alice.wallet_id, "50", "before-budgets")
    _refund(company, alice.wallet_id, "10", "unknown-booking")
    company.credit(alice.wallet_id, "10", reference_id="bk-2")  # not a refund
    assert used() == ("50.00", "50.00")  # bk-2 still counts in full
    _refund(company, alice.wallet_id, "50", "bk-2")
    assert used() == ("0.00", "0.00")
    for budget_id in ids:
        total = sql.execute(
            "SELECT sum(amount)::text FROM budget_usages WHERE budget_id = %s", (budget_id,)
        ).fetchone()
        assert total == ("0.00",)


def test_a_refund_of_a_refused_booking_gives_nothing_back(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    b = make_budget(company.admin, alice, "100")
    _booking(company, alice.wallet_id, "80", "ok")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={
            "amount": "30",
            "type": "DEBIT",
            "reference_id": "refused",
            "reference_type": "BOOKING",
        },
    )
    assert r.json()["code"] == "BUDGET_EXCEEDED"
    _refund(company, alice.wallet_id, "30", "refused")
    assert budget_row(sql, b["budget_id"])["used"] == "80.00"
    assert month_of(today())[0] == b["start_date"]


def test_a_suspended_budget_does_not_count_until_reactivated(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="1000")
    b = make_budget(company.admin, alice, "100")
    company.admin.put(f"/budgets/{b['budget_id']}", json={"status": "SUSPENDED"})
    assert company.debit(alice.wallet_id, "150").status_code == 201  # no limit while suspended
    assert budget_row(sql, b["budget_id"])["used"] == "0.00"
    r = company.admin.put(f"/budgets/{b['budget_id']}", json={"status": "ACTIVE", "reason": "back"})
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    assert company.debit(alice.wallet_id, "100.01").json()["code"] == "BUDGET_EXCEEDED"
    assert company.debit(alice.wallet_id, "100").status_code == 201
    assert budget_row(sql, b["budget_id"])["used"] == "100.00"
