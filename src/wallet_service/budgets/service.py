"""Budget commands and queries, with their rules: who may set a budget, overlap, status changes,
history and events. Enforcement on debits lives in the database (budget_refusal and
budget_consume, called by the posting engine); this module never moves money."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from wallet_service import idempotency
from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import Owner, ensure_can_manage, ensure_can_read, require_role
from wallet_service.budgets import periods, repository
from wallet_service.budgets.schemas import (
    BudgetStatus,
    CreateBudget,
    Enforcement,
    PeriodType,
    UpdateBudget,
)
from wallet_service.db.pool import Database
from wallet_service.errors import (
    BudgetNotFound,
    BudgetOverlap,
    InvalidStatusTransition,
    UserNotFound,
    ValidationFailed,
    WalletNotActive,
    WalletNotFound,
)
from wallet_service.events import outbox
from wallet_service.users import repository as users

#: changed_by / created_by of what the service does by itself (the period job): no person did it.
SYSTEM_ACTOR = UUID(int=0)


def _overlap_error(other: dict[str, Any]) -> BudgetOverlap:
    return BudgetOverlap(
        f"the wallet already has an ACTIVE {other['period_type']} budget {other['budget_id']} "
        f"from {other['start_date']} to {other['end_date']}; a wallet has at most one ACTIVE "
        "budget of a period type on any day (suspend or shorten that one first)"
    )


def _default_end(period_type: PeriodType, start: date) -> date:
    try:
        return periods.end_of_period(period_type, start)
    except (ValueError, OverflowError):  # past year 9999
        raise ValidationFailed(
            "the period from this start_date ends after 9999-12-31",
            errors=[{"loc": ["body", "start_date"], "msg": "too late for a period"}],
        ) from None


async def emit_budget_event(
    conn: asyncpg.Connection,
    event_type: str,
    budget: dict[str, Any],
    owner: Owner,
    **extra: Any,
) -> None:
    """Append a budget event (the budget's JSON, its user_id and `extra`) to the outbox."""
    await outbox.emit(
        conn,
        event_type,
        {**budget, "user_id": str(owner.user_id), **extra},
        company_id=owner.company_id,
        wallet_id=UUID(budget["wallet_id"]),
    )


async def open_budget(
    conn: asyncpg.Connection,
    owner: Owner,
    *,
    wallet_id: UUID,
    total_amount: Decimal,
    period_type: PeriodType,
    start_date: date,
    end_date: date,
    enforcement: Enforcement,
    alert_thresholds: list[int],
    auto_renew: bool,
    created_by: UUID,
    reason: str,
    renewed_from: UUID | None = None,
    changed_by: UUID | None = None,
) -> dict[str, Any]:
    """Create a budget inside the caller's transaction: the row, its first history row (old
    values NULL) and its BudgetCreated event. Raises BudgetOverlap naming the budget in the way."""
    other = await repository.find_overlap(
        conn, wallet_id=wallet_id, period_type=period_type.value, start=start_date, end=end_date
    )
    if other is not None:
        raise _overlap_error(other)
    budget = await repository.insert(
        conn,
        company_id=owner.company_id,
        wallet_id=wallet_id,
        total_amount=total_amount,
        period_type=period_type.value,
        start_date=start_date,
        end_date=end_date,
        enforcement=enforcement.value,
        alert_thresholds=alert_thresholds,
        auto_renew=auto_renew,
        created_by=created_by,
        renewed_from=renewed_from,
    )
    await repository.add_history(
        conn,
        company_id=owner.company_id,
        budget_id=UUID(budget["budget_id"]),
        old_amount=None,
        new_amount=total_amount,
        old_status=None,
        new_status=BudgetStatus.ACTIVE.value,
        reason=reason,
        changed_by=changed_by or created_by,
    )
    await emit_budget_event(conn, "BudgetCreated", budget, owner)
    return budget


async def create_budget(
    db: Database, caller: Caller, cmd: CreateBudget, idem_key: str | None
) -> tuple[int, dict[str, Any]]:
    """POST /budgets: ADMIN (company), MANAGER (their team's wallets), SYSTEM."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    idem = idempotency.keyed(caller, idem_key, "POST", "/budgets", cmd.model_dump(mode="json"))
    not_found = WalletNotFound(f"no wallet {cmd.wallet_id}")
    async with db.transaction() as conn:
        found = await repository.get_wallet(conn, cmd.wallet_id)
        if found is None:
            raise not_found
        owner, wallet_status = found
        ensure_can_manage(caller, owner, not_found)
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        if wallet_status == "CLOSED":
            raise WalletNotActive(f"wallet {cmd.wallet_id} is CLOSED; it cannot take a budget")
        budget = await open_budget(
            conn,
            owner,
            wallet_id=cmd.wallet_id,
            total_amount=cmd.total_amount,
            period_type=cmd.period_type,
            start_date=cmd.start_date,
            end_date=cmd.end_date or _default_end(cmd.period_type, cmd.start_date),
            enforcement=cmd.enforcement,
            alert_thresholds=cmd.alert_thresholds,
            auto_renew=cmd.auto_renew,
            created_by=caller.sub,
            reason="created",
        )
        await idempotency.remember(conn, idem, 201, budget)
    return 201, budget


async def update_budget(
    db: Database, caller: Caller, budget_id: UUID, cmd: UpdateBudget, idem_key: str | None
) -> tuple[int, dict[str, Any]]:
    """PUT /budgets/{budgetId}: change the total, the end date, or suspend / reactivate.

    A change of total or status writes a history row; any change emits BudgetUpdated. An EXPIRED
    budget is final. Reactivating or extending into another ACTIVE budget's dates is
    BUDGET_OVERLAP. A new total re-evaluates the alert thresholds (a lowered total may cross
    some: announced now; a raised one re-arms those usage no longer reaches)."""
    require_role(caller, Role.ADMIN, Role.MANAGER, Role.SYSTEM)
    path = f"/budgets/{budget_id}"
    idem = idempotency.keyed(caller, idem_key, "PUT", path, cmd.model_dump(mode="json"))
    not_found = BudgetNotFound(f"no budget {budget_id}")
    async with db.transaction() as conn:
        # scope first (a stored answer is replayed only to a caller who may change the budget),
        # then the key, then the budget's lock: every command claims its key before its locks
        found = await repository.get(conn, budget_id)
        if found is None:
            raise not_found
        ensure_can_manage(caller, found[1], not_found)
        if (prior := await idempotency.claim(conn, idem)) is not None:
            return prior.status, prior.body
        found = await repository.get(conn, budget_id, for_update=True)
        assert found is not None  # budgets are never deleted
        current, owner = found
        old_status = BudgetStatus(current["status"])
        old_total = Decimal(current["total_amount"])
        old_end = date.fromisoformat(current["end_date"])
        start = date.fromisoformat(current["start_date"])
        if old_status is BudgetStatus.EXPIRED:
            raise InvalidStatusTransition(
                f"budget {budget_id} is EXPIRED; an expired budget is final"
            )
        new_status = BudgetStatus(cmd.status.value) if cmd.status else old_status
        new_total = cmd.total_amount if cmd.total_amount is not None else old_total
        new_end = cmd.end_date or old_end
        if new_end < start:
            raise ValidationFailed(
                f"end_date must not be before the budget's start_date {start}",
                errors=[{"loc": ["body", "end_date"], "msg": "before start_date"}],
            )
        changed = (new_status, new_total, new_end) != (old_status, old_total, old_end)
        if not changed:
            budget = current
        else:
            if new_status is BudgetStatus.ACTIVE:
                other = await repository.find_overlap(
                    conn,
                    wallet_id=UUID(current["wallet_id"]),
                    period_type=current["period_type"],
                    start=start,
                    end=new_end,
                    exclude=budget_id,
                )
                if other is not None:
                    raise _overlap_error(other)
            budget = await repository.update(
                conn,
                budget_id,
                total_amount=new_total if new_total != old_total else None,
                end_date=new_end if new_end != old_end else None,
                status=new_status.value if new_status is not old_status else None,
            )
            if new_total != old_total:
                budget = await repository.refresh_alerts(conn, budget_id, owner.user_id)
            if new_total != old_total or new_status is not old_status:
                await repository.add_history(
                    conn,
                    company_id=owner.company_id,
                    budget_id=budget_id,
                    old_amount=old_total,
                    new_amount=new_total,
                    old_status=old_status.value,
                    new_status=new_status.value,
                    reason=cmd.reason,
                    changed_by=caller.sub,
                )
            await emit_budget_event(
                conn,
                "BudgetUpdated",
                budget,
                owner,
                changes={
                    "old_amount": str(old_total),
                    "new_amount": str(new_total),
                    "old_status": old_status.value,
                    "new_status": new_status.value,
                    "old_end_date": old_end.isoformat(),
                    "new_end_date": new_end.isoformat(),
                    "reason": cmd.reason,
                    "changed_by": str(caller.sub),
                },
            )
        await idempotency.remember(conn, idem, 200, budget)
    return 200, budget


async def list_active(db: Database, caller: Caller, user_id: UUID) -> dict[str, Any]:
    """GET /budgets/{userId}: the user's ACTIVE budgets, within the caller's scope."""
    not_found = UserNotFound(f"no user {user_id}")
    async with db.connection() as conn:
        owner = await users.get_owner(conn, user_id)
        if owner is None:
            raise not_found
        ensure_can_read(caller, owner, not_found)
        return {"budgets": await repository.active_of_user(conn, user_id)}


async def get_history(db: Database, caller: Caller, budget_id: UUID) -> dict[str, Any]:
    """GET /budgets/{budgetId}/history: every change of total or status, oldest first."""
    not_found = BudgetNotFound(f"no budget {budget_id}")
    async with db.connection() as conn:
        found = await repository.get(conn, budget_id)
        if found is None:
            raise not_found
        ensure_can_read(caller, found[1], not_found)
        return {"history": await repository.history(conn, budget_id)}


async def apply_company_defaults(
    conn: asyncpg.Connection,
    owner: Owner,
    wallet_id: UUID,
    defaults: list[Any],
    today: date,
) -> list[dict[str, Any]]:
    """Give a new user's wallet the company's default budgets (on UserCreated, in its transaction),
    each for the calendar period holding `today` (UTC) and auto_renew, so the allocation goes on
    period after period like the company's policy it comes from.

    created_by is the company_defaults.updated_by: the ADMIN (or SYSTEM caller) who last set the
    defaults, i.e. the person whose decision these budgets carry out; SYSTEM_ACTOR if unknown."""
    if not defaults:
        return []
    author = await repository.defaults_author(conn, owner.company_id) or SYSTEM_ACTOR
    created = []
    for spec in defaults:
        period_type = PeriodType(spec.period_type)
        start, end = periods.current_period(period_type, today)
        created.append(
            await open_budget(
                conn,
                owner,
                wallet_id=wallet_id,
                total_amount=spec.total_amount,
                period_type=period_type,
                start_date=start,
                end_date=end,
                enforcement=Enforcement(spec.enforcement),
                alert_thresholds=list(spec.alert_thresholds),
                auto_renew=True,
                created_by=author,
                reason="company default budget",
            )
        )
    return created
