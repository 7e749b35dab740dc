"""HTTP: /budgets."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wallet_service.budgets import service
from wallet_service.budgets.schemas import (
    Budget,
    BudgetHistory,
    BudgetList,
    CreateBudget,
    UpdateBudget,
)
from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.wire import ExactJsonRoute

router = APIRouter(prefix="/budgets", tags=["budgets"], route_class=ExactJsonRoute)


@router.post("", status_code=201, response_model=Budget)
async def create_budget(
    body: CreateBudget, caller: CallerDep, db: DbDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Give a wallet a spending budget for a period (ADMIN, MANAGER for own and team wallets,
    SYSTEM). end_date is inclusive and defaults to the end of the period from start_date. Every
    DEBIT dated inside it counts against it; a HARD one refuses debits past its total."""
    status, budget = await service.create_budget(db, caller, body, idempotency_key)
    return JSONResponse(budget, status_code=status)


@router.get("/{userId}", response_model=BudgetList)
async def list_budgets(userId: UUID, caller: CallerDep, db: DbDep) -> JSONResponse:
    """The user's ACTIVE budgets, with used and remaining amounts (in scope)."""
    return JSONResponse(await service.list_active(db, caller, userId))


@router.put("/{budgetId}", response_model=Budget)
async def update_budget(
    budgetId: UUID,
    body: UpdateBudget,
    caller: CallerDep,
    db: DbDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Change a budget's total or end date, or suspend / reactivate it, with a reason. Changes of
    total or status are kept in its history."""
    status, budget = await service.update_budget(db, caller, budgetId, body, idempotency_key)
    return JSONResponse(budget, status_code=status)


@router.get("/{budgetId}/history", response_model=BudgetHistory)
async def budget_history(budgetId: UUID, caller: CallerDep, db: DbDep) -> JSONResponse:
    """Every change of the budget's total or status, oldest first (in scope)."""
    return JSONResponse(await service.get_history(db, caller, budgetId))
