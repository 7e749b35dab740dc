"""Helpers shared by the budget tests: create a budget over HTTP, read a budget's stored state and
the outbox rows of a wallet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from tests.support import Api, Member


def today() -> date:
    return datetime.now(UTC).date()


def month_of(day: date) -> tuple[str, str]:
    """The calendar month holding `day`, as ISO strings (start, inclusive end)."""
    from wallet_service.budgets.periods import current_period
    from wallet_service.budgets.schemas import PeriodType

    start, end = current_period(PeriodType.MONTHLY, day)
    return start.isoformat(), end.isoformat()


def make_budget(api: Api, member: Member, total: str = "100.00", **fields: Any) -> dict[str, Any]:
    """POST /budgets for the member's wallet (current month by default); asserts 201."""
    body: dict[str, Any] = {
        "wallet_id": member.wallet_id,
        "total_amount": total,
        "start_date": month_of(today())[0],
    }
    body.update(fields)
    r = api.post("/budgets", json=body)
    assert r.status_code == 201, r.text
    budget: dict[str, Any] = r.json()
    return budget


def budget_row(sql: psycopg.Connection[Any], budget_id: str) -> dict[str, Any]:
    cur = sql.execute(
        "SELECT used_amount::text AS used, total_amount::text AS total, status, alerted_thresholds"
        " FROM budgets WHERE budget_id = %s",
        (budget_id,),
    )
    row = cur.fetchone()
    assert row is not None
    return {"used": row[0], "total": row[1], "status": row[2], "alerted": row[3]}


def outbox_events(
    sql: psycopg.Connection[Any], wallet_id: str, event_type: str | None = None
) -> list[dict[str, Any]]:
    """The wallet's outbox rows (event_type, data), in the order they were written."""
    cur = sql.execute(
        "SELECT event_type, data FROM outbox WHERE wallet_id = %s"
        " AND (%s::text IS NULL OR event_type = %s) ORDER BY seq",
        (wallet_id, event_type, event_type),
    )
    return [{"event_type": t, "data": d} for t, d in cur.fetchall()]
