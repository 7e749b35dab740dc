"""HTTP: /budgets."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response

from wallet_service.budgets import service
from wallet_service.budgets.schemas import (
    Budget,
    BudgetHistory,
    BudgetList,
    CreateBudget,
    UpdateBudget,
)
from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wire import ExactJsonRoute

router = APIRouter(
    prefix="/budgets", tags=["budgets"], responses=AUTHENTICATED, route_class=ExactJsonRoute
)


@router.post(
    "",
    status_code=201,
    responses=errors_for(
        403,
        404,
        409,
        codes={404: "WALLET_NOT_FOUND", 409: "BUDGET_OVERLAP, IDEMPOTENCY_KEY_REUSED"},
    ),
)
async def create_budget(
    body: CreateBudget,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Budget:
    """Give a wallet a spending budget for a period (ADMIN, MANAGER for own and team wallets,
    SYSTEM). end_date is inclusive and defaults to the end of the period from start_date. Every
    DEBIT dated inside it counts against it; a HARD one refuses debits past its total."""
    status, budget = await service.create_budget(db, caller, body, idempotency_key)
    response.status_code = status
    return Budget.model_validate(budget)


# GET /budgets/{userId} and PUT /budgets/{budgetId} are one path to a server (and to OpenAPI,
# which refuses two templates that differ only in a name): its segment is called `id` in both.
@router.get("/{id}", responses=errors_for(403, 404, codes={404: "WALLET_NOT_FOUND"}))
async def list_budgets(
    userId: Annotated[UUID, Path(alias="id", description="the user's id")],
    caller: CallerDep,
    db: DbDep,
) -> BudgetList:
    """The user's ACTIVE budgets, with used and remaining amounts (in scope)."""
    return BudgetList.model_validate(await service.list_active(db, caller, userId))


@router.put(
    "/{id}",
    responses=errors_for(
        403,
        404,
        409,
        codes={
            404: "BUDGET_NOT_FOUND",
            409: "BUDGET_OVERLAP, INVALID_STATUS_TRANSITION, IDEMPOTENCY_KEY_REUSED",
        },
    ),
)
async def update_budget(
    budgetId: Annotated[UUID, Path(alias="id", description="the budget's id")],
    body: UpdateBudget,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Budget:
    """Change a budget's total or end date, or suspend / reactivate it, with a reason. Changes of
    total or status are kept in its history."""
    status, budget = await service.update_budget(db, caller, budgetId, body, idempotency_key)
    response.status_code = status
    return Budget.model_validate(budget)


@router.get("/{budgetId}/history", responses=errors_for(403, 404, codes={404: "BUDGET_NOT_FOUND"}))
async def get_budget_history(budgetId: UUID, caller: CallerDep, db: DbDep) -> BudgetHistory:
    """Every change of the budget's total or status, oldest first (in scope)."""
    return BudgetHistory.model_validate(await service.get_history(db, caller, budgetId))
