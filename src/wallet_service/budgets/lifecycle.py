"""The budget period job: budgets whose end_date has passed become EXPIRED, and auto_renew ones
are followed by the next period's budget.

Safe with several service instances: each run claims ended budgets with
FOR NO KEY UPDATE SKIP LOCKED in small batches, one transaction per batch, so every budget has
exactly one winner and a budget claimed by another instance is simply skipped. Each budget is
rolled in its own savepoint, so one that cannot be rolled is logged and skipped without holding
back the others. The clock is an argument (`now`), so tests drive the job with an injected time."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service.auth.scope import Owner
from wallet_service.budgets import periods, repository
from wallet_service.budgets.schemas import BudgetStatus, Enforcement, PeriodType
from wallet_service.budgets.service import SYSTEM_ACTOR, emit_budget_event, open_budget
from wallet_service.db.pool import Database
from wallet_service.errors import BudgetOverlap

log = logging.getLogger(__name__)

BATCH = 100


async def _expire_one(conn: asyncpg.Connection, budget_id: UUID, today: date) -> None:
    found = await repository.get(conn, budget_id)
    assert found is not None
    current, owner = found
    budget = await repository.update(conn, budget_id, status=BudgetStatus.EXPIRED.value)
    total = Decimal(current["total_amount"])
    await repository.add_history(
        conn,
        company_id=owner.company_id,
        budget_id=budget_id,
        old_amount=total,
        new_amount=total,
        old_status=current["status"],
        new_status=BudgetStatus.EXPIRED.value,
        reason=f"period ended on {current['end_date']}",
        changed_by=SYSTEM_ACTOR,
    )
    await emit_budget_event(
        conn,
        "BudgetUpdated",
        budget,
        owner,
        changes={
            "old_status": current["status"],
            "new_status": BudgetStatus.EXPIRED.value,
            "reason": "period ended",
            "changed_by": str(SYSTEM_ACTOR),
        },
    )
    if current["auto_renew"]:
        await _renew(conn, current, owner, today)


async def _renew(conn: asyncpg.Connection, old: dict[str, Any], owner: Owner, today: date) -> None:
    """Open the next period's budget, unless an ACTIVE one of that period type already covers
    those dates (someone created it by hand): then the old one just expires."""
    period_type = PeriodType(old["period_type"])
    start, end = periods.next_period_covering(
        period_type, date.fromisoformat(old["end_date"]), today
    )
    try:
        async with conn.transaction():  # a savepoint: a lost overlap race skips this renewal only
            await open_budget(
                conn,
                owner,
                wallet_id=UUID(old["wallet_id"]),
                total_amount=Decimal(old["total_amount"]),
                period_type=period_type,
                start_date=start,
                end_date=end,
                enforcement=Enforcement(old["enforcement"]),
                alert_thresholds=list(old["alert_thresholds"]),
                auto_renew=True,
                created_by=UUID(old["created_by"]),
                reason=f"renewed from {old['budget_id']}",
                renewed_from=UUID(old["budget_id"]),
                changed_by=SYSTEM_ACTOR,
            )
    except (BudgetOverlap, asyncpg.ExclusionViolationError):
        log.info("budget %s not renewed: its next period already has a budget", old["budget_id"])


async def roll_budgets(db: Database, now: datetime) -> int:
    """Expire every ACTIVE budget whose end_date is before today (UTC of `now`) and renew the
    auto_renew ones; returns how many budgets this run expired."""
    today = now.astimezone(UTC).date()
    handled = 0
    failed: list[UUID] = []
    while True:
        async with db.transaction() as conn:
            claimed = await repository.claim_ended(conn, today, BATCH, skip=failed)
            for budget_id in claimed:
                try:
                    async with conn.transaction():  # a savepoint: one bad budget stalls no other
                        await _expire_one(conn, budget_id, today)
                    handled += 1
                except Exception:
                    log.exception("budget %s could not be rolled over; skipped this run", budget_id)
                    failed.append(budget_id)
        if len(claimed) < BATCH:
            return handled
