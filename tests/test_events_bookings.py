"""Booking events through POST /events: debited once, refused bookings recorded as FAILED,
refunded at most once and never more than was debited, budget usage given back."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import psycopg

from tests.support import Company, Member, booking


def _budget(sql: psycopg.Connection[Any], member: Member, total: str) -> str:
    today = date.today()
    row = sql.execute(
        """INSERT INTO budgets (company_id, wallet_id, total_amount, period_type, start_date,
                                end_date, created_by, alert_thresholds)
           VALUES (%s, %s, %s, 'MONTHLY', %s, %s, %s, '{50,100}') RETURNING budget_id""",
        (
            member.company_id,
            member.wallet_id,
            total,
            today - timedelta(days=1),
            today + timedelta(days=1),
            member.user_id,
        ),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _used(sql: psycopg.Connection[Any], budget_id: str) -> str:
    row = sql.execute(
        "SELECT used_amount FROM budgets WHERE budget_id = %s", (budget_id,)
    ).fetchone()
    assert row is not None
    return f"{row[0]:.2f}"


def _outbox(sql: psycopg.Connection[Any], member: Member, event_type: str) -> list[dict[str, Any]]:
    rows = sql.execute(
        "SELECT data FROM outbox WHERE wallet_id = %s AND event_type = %s ORDER BY seq",
        (member.wallet_id, event_type),
    ).fetchall()
    return [r[0] for r in rows]


def test_booking_is_debited_once_whatever_the_deliveries(company: Company) -> None:
    alice = company.member(balance="100.00")
    data = booking(alice, "30.00", description="Flight")
    event_id = str(uuid.uuid4())
    first = company.event("BookingCreated", data, event_id)
    assert first.status_code == 200, first.text
    assert first.json()["applied"] is True
    txn = first.json()["result"]
    assert (txn["type"], txn["status"], txn["reference_type"]) == ("DEBIT", "COMPLETED", "BOOKING")
    assert txn["reference_id"] == data["booking_id"]
    again = company.event("BookingCreated", data, event_id)
    assert again.status_code == 200
    assert again.json()["applied"] is False
    assert again.json()["result"]["txn_id"] == txn["txn_id"]
    other_id = company.event("BookingCreated", data)  # same booking, another event id
    no_id = company.event("BookingCreated", data, None)
    assert other_id.json()["applied"] is False and no_id.json()["applied"] is False
    assert company.wallet(alice)["balance"] == "70.00"


def test_refused_booking_is_recorded_as_failed_and_announced(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    bob = company.member(balance="10.00")
    data = booking(bob, "25.00")
    r = company.event("BookingCreated", data)
    assert r.status_code == 200, r.text
    txn = r.json()["result"]
    assert txn["status"] == "FAILED" and txn["failure_code"] == "INSUFFICIENT_FUNDS"
    assert company.wallet(bob)["balance"] == "10.00"
    [failed] = _outbox(sql, bob, "TransactionFailed")
    assert failed["code"] == "INSUFFICIENT_FUNDS"
    assert failed["amount"] == "25.00" and failed["reference_id"] == data["booking_id"]
    assert failed["user_id"] == str(bob.user_id) and failed["wallet_id"] == bob.wallet_id
    # the booking was decided: a redelivery neither retries nor announces it again
    assert company.event("BookingCreated", data).json()["applied"] is False
    assert len(_outbox(sql, bob, "TransactionFailed")) == 1
    # and cancelling a refused booking refunds nothing
    cancel = company.event(
        "BookingCancelled", {"booking_id": data["booking_id"], "user_id": str(bob.user_id)}
    )
    assert cancel.status_code == 200 and cancel.json()["applied"] is False
    assert company.wallet(bob)["balance"] == "10.00"


def test_booking_in_another_currency_fails_with_currency_mismatch(company: Company) -> None:
    carol = company.member(balance="100.00")
    r = company.event("BookingCreated", booking(carol, "5.00", currency="EUR"))
    assert r.status_code == 200
    assert r.json()["result"]["failure_code"] == "CURRENCY_MISMATCH"
    assert company.wallet(carol)["balance"] == "100.00"


def test_frozen_wallet_refuses_the_booking(company: Company) -> None:
    dan = company.member(balance="100.00")
    r = company.system.put(
        f"/wallets/{dan.wallet_id}/status", json={"status": "FROZEN", "reason": "t"}
    )
    assert r.status_code == 200, r.text
    r = company.event("BookingCreated", booking(dan, "5.00"))
    assert r.json()["result"]["failure_code"] == "WALLET_NOT_ACTIVE"


def test_budget_exceeded_booking_fails_and_refund_gives_usage_back(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    erin = company.member(balance="500.00")
    budget_id = _budget(sql, erin, "100.00")
    over = company.event("BookingCreated", booking(erin, "150.00"))
    assert over.json()["result"]["failure_code"] == "BUDGET_EXCEEDED"
    assert _used(sql, budget_id) == "0.00"
    data = booking(erin, "80.00")
    assert company.event("BookingCreated", data).json()["applied"] is True
    assert _used(sql, budget_id) == "80.00"
    assert len(_outbox(sql, erin, "BudgetExceeded")) == 1  # the 50% threshold
    cancel = {"booking_id": data["booking_id"], "user_id": str(erin.user_id)}
    refund = company.event("BookingCancelled", cancel)
    assert refund.status_code == 200, refund.text
    txn = refund.json()["result"]
    assert (txn["type"], txn["amount"], txn["reference_type"]) == (
        "CREDIT",
        "80.00",
        "BOOKING_REFUND",
    )
    assert _used(sql, budget_id) == "0.00"
    assert company.wallet(erin)["balance"] == "500.00"


def test_refund_is_capped_and_happens_at_most_once(company: Company) -> None:
    fay = company.member(balance="100.00")
    data = booking(fay, "40.00")
    company.event("BookingCreated", data)
    cancel = {
        "booking_id": data["booking_id"],
        "user_id": str(fay.user_id),
        "refund_amount": "75.00",
    }
    r = company.event("BookingCancelled", cancel)
    assert r.json()["applied"] is True and r.json()["result"]["amount"] == "40.00"
    for _ in range(2):
        assert company.event("BookingCancelled", cancel).json()["applied"] is False
    assert company.wallet(fay)["balance"] == "100.00"


def test_partial_refund(company: Company) -> None:
    gus = company.member(balance="100.00")
    data = booking(gus, "40.00")
    company.event("BookingCreated", data)
    cancel = {"booking_id": data["booking_id"], "user_id": str(gus.user_id), "refund_amount": 15}
    assert company.event("BookingCancelled", cancel).json()["result"]["amount"] == "15.00"
    assert company.wallet(gus)["balance"] == "75.00"


def test_a_cancellation_that_overtakes_its_booking_prevents_the_charge(company: Company) -> None:
    """Deliveries can overtake each other (concurrent consumers, retries): a cancellation that
    arrives first is remembered, and the booking, when it arrives, is never charged."""
    hal = company.member(balance="20.00")
    data = booking(hal, "15.00")
    cancel = {"booking_id": data["booking_id"], "user_id": str(hal.user_id)}
    first = company.event("BookingCancelled", cancel)
    assert first.status_code == 200 and first.json()["result"] is None
    late = company.event("BookingCreated", data)
    assert late.status_code == 200 and late.json()["applied"] is False
    again = company.event("BookingCancelled", cancel)
    assert again.status_code == 200 and again.json()["applied"] is False
    assert company.wallet(hal)["balance"] == "20.00"
    assert len(company.transactions(hal)) == 1, "only the funding credit"


def test_bookings_and_cancellations_in_any_order_leave_nothing_charged(company: Company) -> None:
    liv = company.member(balance="500.00")
    bookings = [booking(liv, "10.00") for _ in range(15)]
    events = [("BookingCreated", b) for b in bookings] + [
        ("BookingCancelled", {"booking_id": b["booking_id"], "user_id": str(liv.user_id)})
        for b in bookings
    ]
    random.shuffle(events)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda e: company.event(*e), events))
    assert [r.status_code for r in answers] == [200] * len(events)
    assert company.wallet(liv)["balance"] == "500.00"
    debits = [t for t in company.transactions(liv) if t["type"] == "DEBIT"]
    refunds = [t for t in company.transactions(liv) if t["reference_type"] == "BOOKING_REFUND"]
    assert len(debits) == len(refunds), "every booking that was charged was refunded"


def test_racing_deliveries_debit_once_and_refund_once(company: Company) -> None:
    ivy = company.member(balance="100.00")
    data = booking(ivy, "60.00")
    cancel = {"booking_id": data["booking_id"], "user_id": str(ivy.user_id)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda _: company.event("BookingCreated", data), range(8)))
    assert all(r.status_code == 200 for r in created), [r.text for r in created]
    assert sum(r.json()["applied"] for r in created) == 1
    assert company.wallet(ivy)["balance"] == "40.00"
    with ThreadPoolExecutor(max_workers=8) as pool:
        cancelled = list(pool.map(lambda _: company.event("BookingCancelled", cancel), range(8)))
    assert all(r.status_code == 200 for r in cancelled), [r.text for r in cancelled]
    assert sum(r.json()["applied"] for r in cancelled) == 1
    assert company.wallet(ivy)["balance"] == "100.00"
    kinds = sorted((t["type"], t["status"]) for t in company.transactions(ivy))
    assert kinds == [("CREDIT", "COMPLETED"), ("CREDIT", "COMPLETED"), ("DEBIT", "COMPLETED")]


def test_same_event_id_racing_applies_once(company: Company) -> None:
    jo = company.member(balance="100.00")
    data = booking(jo, "10.00")
    event_id = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=6) as pool:
        rs = list(pool.map(lambda _: company.event("BookingCreated", data, event_id), range(6)))
    assert [r.status_code for r in rs] == [200] * 6
    assert sum(r.json()["applied"] for r in rs) == 1
    assert company.wallet(jo)["balance"] == "90.00"


def test_unknown_user_and_bad_events_are_refused(company: Company) -> None:
    ghost = {"booking_id": "b1", "user_id": str(uuid.uuid4()), "amount": "1.00", "currency": "USD"}
    r = company.event("BookingCreated", ghost)
    assert r.status_code == 404 and r.json()["code"] == "USER_NOT_FOUND"
    kim = company.member(balance="10.00")
    bad = company.event("BookingCreated", {**booking(kim, "1.00"), "amount": "-3"})
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"
    missing = company.event("BookingCancelled", {"user_id": str(kim.user_id)})
    assert missing.status_code == 422
    unknown = company.event("BookingExploded", {"x": 1})
    assert unknown.status_code == 422
    assert company.wallet(kim)["balance"] == "10.00"
