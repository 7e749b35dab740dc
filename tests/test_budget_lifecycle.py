"""Budget periods: date math, the expiry/renewal job (driven with an injected clock) and the
company default budgets a new user gets on UserCreated."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import psycopg
import pytest

from tests.budget_helpers import budget_row, make_budget, outbox_events, today
from tests.support import Company
from wallet_service.budgets import lifecycle
from wallet_service.budgets.periods import (
    current_period,
    end_of_period,
    next_period,
    next_period_covering,
)
from wallet_service.budgets.schemas import PeriodType
from wallet_service.db.pool import Database

T = TypeVar("T")
RunDb = Callable[[Callable[[Database], Awaitable[T]]], T]
NIL = str(uuid.UUID(int=0))


@pytest.mark.parametrize(
    ("period_type", "start", "end"),
    [
        (PeriodType.MONTHLY, date(2026, 11, 1), date(2026, 11, 30)),
        (PeriodType.MONTHLY, date(2026, 1, 15), date(2026, 2, 14)),
        (PeriodType.MONTHLY, date(2028, 2, 1), date(2028, 2, 29)),
        (PeriodType.WEEKLY, date(2026, 12, 28), date(2027, 1, 3)),
        (PeriodType.QUARTERLY, date(2026, 11, 1), date(2027, 1, 31)),
        (PeriodType.YEARLY, date(2026, 3, 1), date(2027, 2, 28)),
    ],
)
def test_end_of_period(period_type: PeriodType, start: date, end: date) -> None:
    assert end_of_period(period_type, start) == end


def test_next_periods_follow_without_gaps() -> None:
    assert next_period(PeriodType.MONTHLY, date(2026, 11, 30)) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )
    assert next_period(PeriodType.QUARTERLY, date(2026, 12, 31)) == (
        date(2027, 1, 1),
        date(2027, 3, 31),
    )
    # a job that ran months late renews straight into the period holding today
    assert next_period_covering(PeriodType.MONTHLY, date(2026, 1, 31), date(2026, 5, 10)) == (
        date(2026, 5, 1),
        date(2026, 5, 31),
    )


@pytest.mark.parametrize(
    ("period_type", "start", "end"),
    [
        (PeriodType.WEEKLY, date(2026, 11, 23), date(2026, 11, 29)),
        (PeriodType.MONTHLY, date(2026, 11, 1), date(2026, 11, 30)),
        (PeriodType.QUARTERLY, date(2026, 10, 1), date(2026, 12, 31)),
        (PeriodType.YEARLY, date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_current_calendar_period(period_type: PeriodType, start: date, end: date) -> None:
    assert current_period(period_type, date(2026, 11, 24)) == (start, end)


def _roll(run_db: RunDb[int], now: datetime) -> int:
    return run_db(lambda db: lifecycle.roll_budgets(db, now))


def _renewals(sql: psycopg.Connection[Any], budget_id: str) -> list[dict[str, Any]]:
    rows = sql.execute(
        "SELECT budget_json(b) FROM budgets b WHERE renewed_from = %s", (budget_id,)
    ).fetchall()
    return [r[0] for r in rows]


def test_ended_budgets_expire_and_auto_renew_ones_open_the_next_period(
    company: Company, sql: psycopg.Connection[Any], run_db: RunDb[int]
) -> None:
    alice = company.member()
    renewing = make_budget(
        company.admin,
        alice,
        "300",
        start_date="2020-01-01",
        auto_renew=True,
        enforcement="SOFT",
        alert_thresholds=[90],
    )
    plain = make_budget(company.admin, alice, "100", period_type="WEEKLY", start_date="2020-01-27")
    running = make_budget(company.admin, alice, "50", period_type="YEARLY", start_date="2020-01-01")

    handled = _roll(run_db, datetime(2020, 2, 3, 0, 30, tzinfo=UTC))
    assert handled >= 2
    assert budget_row(sql, renewing["budget_id"])["status"] == "EXPIRED"
    assert budget_row(sql, plain["budget_id"])["status"] == "EXPIRED"
    assert budget_row(sql, running["budget_id"])["status"] == "ACTIVE"
    assert _renewals(sql, plain["budget_id"]) == []
    [renewed] = _renewals(sql, renewing["budget_id"])
    assert (renewed["start_date"], renewed["end_date"]) == ("2020-02-01", "2020-02-29")
    assert (renewed["total_amount"], renewed["used_amount"], renewed["status"]) == (
        "300.00",
        "0.00",
        "ACTIVE",
    )
    assert (renewed["enforcement"], renewed["alert_thresholds"], renewed["auto_renew"]) == (
        "SOFT",
        [90],
        True,
    )
    assert renewed["created_by"] == str(company.admin_id)

    listed = {b["budget_id"] for b in alice.api.get(f"/budgets/{alice.user_id}").json()["budgets"]}
    assert listed == {renewed["budget_id"], running["budget_id"]}
    history = company.admin.get(f"/budgets/{renewing['budget_id']}/history").json()["history"]
    assert (history[-1]["old_status"], history[-1]["new_status"], history[-1]["changed_by"]) == (
        "ACTIVE",
        "EXPIRED",
        NIL,
    )
    events = [
        (e["event_type"], e["data"]["budget_id"], e["data"]["status"])
        for e in outbox_events(sql, alice.wallet_id)
        if e["event_type"].startswith("Budget")
    ][3:]
    assert sorted(events) == sorted(
        [
            ("BudgetUpdated", renewing["budget_id"], "EXPIRED"),
            ("BudgetCreated", renewed["budget_id"], "ACTIVE"),
            ("BudgetUpdated", plain["budget_id"], "EXPIRED"),
        ]
    )
    r = company.admin.put(f"/budgets/{plain['budget_id']}", json={"status": "ACTIVE"})
    assert (r.status_code, r.json()["code"]) == (409, "INVALID_STATUS_TRANSITION")

    _roll(run_db, datetime(2020, 2, 3, 23, 59, tzinfo=UTC))  # same day again: nothing to do
    assert len(_renewals(sql, renewing["budget_id"])) == 1
    assert budget_row(sql, renewed["budget_id"])["status"] == "ACTIVE"


def test_renewal_skips_a_period_already_budgeted_by_hand(
    company: Company, sql: psycopg.Connection[Any], run_db: RunDb[int]
) -> None:
    alice = company.member()
    old = make_budget(company.admin, alice, "10", start_date="2021-03-01", auto_renew=True)
    manual = make_budget(company.admin, alice, "99", start_date="2021-04-01")
    _roll(run_db, datetime(2021, 4, 2, tzinfo=UTC))
    assert budget_row(sql, old["budget_id"])["status"] == "EXPIRED"
    assert _renewals(sql, old["budget_id"]) == []
    assert budget_row(sql, manual["budget_id"])["status"] == "ACTIVE"


def test_two_job_instances_running_at_once_renew_each_budget_exactly_once(
    company: Company,
    sql: psycopg.Connection[Any],
    run_db: RunDb[list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lifecycle, "BATCH", 3)  # small batches, so both instances get work
    budgets = []
    for _ in range(6):
        m = company.member()
        for period_type in ("WEEKLY", "MONTHLY", "QUARTERLY"):
            budgets.append(
                make_budget(
                    company.system,
                    m,
                    "10",
                    period_type=period_type,
                    start_date="2018-01-01",
                    auto_renew=True,
                )
            )
    now = datetime(2018, 6, 1, 12, tzinfo=UTC)

    async def both(db: Database) -> list[int]:
        return list(
            await asyncio.gather(lifecycle.roll_budgets(db, now), lifecycle.roll_budgets(db, now))
        )

    counts = run_db(both)
    assert sum(counts) >= len(budgets)
    for b in budgets:
        assert budget_row(sql, b["budget_id"])["status"] == "EXPIRED"
        [renewed] = _renewals(sql, b["budget_id"])
        assert renewed["start_date"] <= "2018-06-01" <= renewed["end_date"]
        expired_rows = sql.execute(
            "SELECT count(*) FROM budget_history WHERE budget_id = %s AND new_status = 'EXPIRED'",
            (b["budget_id"],),
        ).fetchone()
        assert expired_rows == (1,)


def test_the_job_is_registered() -> None:
    from wallet_service import jobs

    assert lifecycle.roll_budgets in [j.run for j in jobs.registry()]


def test_a_new_user_gets_the_company_default_budgets(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    r = company.admin.put(
        f"/companies/{company.company_id}/defaults",
        json={
            "initial_balance": "300",
            "budgets": [
                {"period_type": "MONTHLY", "total_amount": "200"},
                {
                    "period_type": "WEEKLY",
                    "total_amount": "50",
                    "enforcement": "SOFT",
                    "alert_thresholds": [50],
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    alice = company.member()
    budgets = {
        b["period_type"]: b for b in alice.api.get(f"/budgets/{alice.user_id}").json()["budgets"]
    }
    assert budgets.keys() == {"MONTHLY", "WEEKLY"}
    for period_type, b in budgets.items():
        start, end = current_period(PeriodType(period_type), today())
        assert (b["start_date"], b["end_date"]) == (start.isoformat(), end.isoformat())
        assert b["created_by"] == str(company.admin_id)  # who set the defaults
        assert b["auto_renew"] is True
        assert b["wallet_id"] == alice.wallet_id
    assert (budgets["MONTHLY"]["total_amount"], budgets["MONTHLY"]["enforcement"]) == (
        "200.00",
        "HARD",
    )
    assert (budgets["WEEKLY"]["enforcement"], budgets["WEEKLY"]["alert_thresholds"]) == (
        "SOFT",
        [50],
    )
    history = company.admin.get(f"/budgets/{budgets['MONTHLY']['budget_id']}/history").json()
    assert history["history"][0]["changed_by"] == str(company.admin_id)
    assert len(outbox_events(sql, alice.wallet_id, "BudgetCreated")) == 2

    # they are enforced like any other budget
    assert company.debit(alice.wallet_id, "200.01").json()["code"] == "BUDGET_EXCEEDED"

    # a redelivered UserCreated changes nothing
    redelivery = {
        "event_type": "UserCreated",
        "data": {
            "user_id": str(alice.user_id),
            "email": "a@example.com",
            "company_id": str(company.company_id),
            "role": "USER",
        },
    }
    assert company.system.post("/events", json=redelivery).status_code == 200
    assert len(alice.api.get(f"/budgets/{alice.user_id}").json()["budgets"]) == 2


def test_without_defaults_a_new_user_has_no_budgets(company: Company) -> None:
    alice = company.member()
    assert alice.api.get(f"/budgets/{alice.user_id}").json() == {"budgets": []}
