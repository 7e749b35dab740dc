"""Regression tests for lock-order deadlocks found in review. Each test widens the window between
two steps of one command (monkeypatching a repository call in the in-process test server) so that
a competing command runs inside it; with the wrong lock modes these ended in 500s."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from tests.support import Company, booking
from wallet_service.budgets import lifecycle
from wallet_service.budgets import repository as budgets_repository
from wallet_service.db.pool import Database

T = TypeVar("T")


def _slowed(fn: Callable[..., Awaitable[Any]], seconds: float) -> Callable[..., Awaitable[Any]]:
    async def slow(*args: Any, **kwargs: Any) -> Any:
        result = await fn(*args, **kwargs)
        await asyncio.sleep(seconds)
        return result

    return slow


def test_budget_change_does_not_deadlock_with_a_booking(
    company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = company.member(balance="100.00")
    today = datetime.now(UTC).date()
    budget = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "50",
            "start_date": str(today.replace(day=1)),
        },
    ).json()
    # the PUT updates the budget row, then (slowly) refreshes its alerts: a booking on the same
    # wallet arrives in between
    monkeypatch.setattr(budgets_repository, "update", _slowed(budgets_repository.update, 0.5))
    answers: dict[str, httpx.Response] = {}

    def change() -> None:
        answers["put"] = company.system.put(
            f"/budgets/{budget['budget_id']}", json={"total_amount": "60"}
        )

    def book() -> None:
        time.sleep(0.2)
        answers["book"] = company.event("BookingCreated", booking(alice, "5.00"))

    threads = [threading.Thread(target=change), threading.Thread(target=book)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers["put"].status_code == 200, answers["put"].text
    assert answers["book"].status_code == 200, answers["book"].text
    assert company.wallet(alice)["balance"] == "95.00"


def test_budget_roll_does_not_deadlock_with_a_capture(
    company: Company,
    monkeypatch: pytest.MonkeyPatch,
    run_db: Callable[[Callable[[Database], Awaitable[int]]], int],
) -> None:
    alice = company.member(balance="100.00")
    today = datetime.now(UTC).date()
    r = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "50",
            "period_type": "WEEKLY",
            "start_date": str(today),
            "end_date": str(today),
            "auto_renew": True,
        },
    )
    assert r.status_code == 201, r.text
    hold = company.system.post(f"/wallets/{alice.wallet_id}/holds", json={"amount": "10"}).json()
    # the job claims the ended budget, then (slowly) expires and renews it: a capture of a hold
    # that reserved against that budget arrives in between
    monkeypatch.setattr(
        budgets_repository, "claim_ended", _slowed(budgets_repository.claim_ended, 1.0)
    )
    answers: dict[str, httpx.Response] = {}

    def capture() -> None:
        time.sleep(0.3)
        answers["capture"] = company.system.post(f"/transactions/{hold['txn_id']}/capture", json={})

    thread = threading.Thread(target=capture)
    thread.start()
    rolled = run_db(lambda db: lifecycle.roll_budgets(db, datetime.now(UTC) + timedelta(days=1)))
    thread.join()
    assert rolled >= 1
    assert answers["capture"].status_code == 200, answers["capture"].text
    assert company.wallet(alice)["balance"] == "90.00"


def test_a_budget_that_cannot_roll_holds_back_no_other(
    company: Company,
    base_url: str,
    sql: Any,
    run_db: Callable[[Callable[[Database], Awaitable[int]]], int],
) -> None:
    """One broken row (here: an end date PostgreSQL stores as -infinity, which the API now
    refuses but older data might hold) must not stop expiry and renewal for every company."""
    victim = Company(base_url)
    bob = victim.member()
    ended = victim.admin.post(
        "/budgets",
        json={
            "wallet_id": bob.wallet_id,
            "total_amount": "10",
            "period_type": "WEEKLY",
            "start_date": "2026-01-05",
            "end_date": "2026-01-11",
            "auto_renew": True,
        },
    ).json()
    alice = company.member()
    sql.execute(
        """INSERT INTO budgets (company_id, wallet_id, total_amount, period_type, start_date,
                                end_date, created_by, auto_renew)
           VALUES (%s, %s, 10, 'WEEKLY', '-infinity', '-infinity', %s, true)""",
        (str(company.company_id), alice.wallet_id, str(uuid.uuid4())),
    )
    run_db(lambda db: lifecycle.roll_budgets(db, datetime(2026, 2, 1, tzinfo=UTC)))
    status = sql.execute("SELECT status FROM budgets WHERE budget_id = %s", (ended["budget_id"],))
    assert status.fetchone() == ("EXPIRED",)
    renewed = sql.execute(
        "SELECT count(*) FROM budgets WHERE renewed_from = %s", (ended["budget_id"],)
    )
    assert renewed.fetchone() == (1,)


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_dates_outside_the_supported_range_are_refused(company: Company, day: str) -> None:
    alice = company.member(balance="10.00")
    r = company.admin.post(
        "/budgets", json={"wallet_id": alice.wallet_id, "total_amount": "10", "start_date": day}
    )
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", r.text
    r = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "10",
            "start_date": "2026-11-01",
            "end_date": day,
        },
    )
    assert r.status_code == 422, r.text
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/holds", json={"amount": "1", "expires_at": f"{day}T23:59:59Z"}
    )
    assert r.status_code == 422, r.text
    for param in ("start_date", "end_date"):
        r = company.system.get(f"/wallets/{alice.wallet_id}/transactions", params={param: day})
        assert r.status_code == 422, r.text
    assert company.wallet(alice)["available_balance"] == "10.00"


def test_supported_range_edges_are_accepted(company: Company) -> None:
    alice = company.member()
    r = company.system.get(
        f"/wallets/{alice.wallet_id}/transactions", params={"end_date": "9998-12-31"}
    )
    assert r.status_code == 200
    r = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "1",
            "start_date": str(date(9998, 12, 1)),
        },
    )
    assert r.status_code == 201 and r.json()["end_date"] == "9998-12-31"
