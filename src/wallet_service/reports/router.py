"""HTTP: statements, point-in-time balances, the spend and budget reports."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse

from wallet_service.budgets.schemas import BudgetStatus
from wallet_service.dates import BoundedDate
from wallet_service.deps import CallerDep, DbDep
from wallet_service.ledger.schemas import DateOrDateTime
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.reports import render, service
from wallet_service.reports.schemas import (
    CSV_COLUMNS,
    BalanceAsOf,
    BudgetReport,
    GroupBy,
    SpendReport,
    Statement,
    StatementFormat,
)
from wallet_service.responses import model_response
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["reports"], responses=AUTHENTICATED, route_class=ExactJsonRoute)

FromDate = Annotated[
    BoundedDate | None,
    Query(alias="from", description="first day, inclusive (UTC); default: the current month's"),
]
ToDate = Annotated[
    BoundedDate | None,
    Query(description="last day, inclusive (UTC); default: the current month's last"),
]
CompanyId = Annotated[
    UUID | None,
    Query(description="the company reported on: required for SYSTEM, else the token's own"),
]

_WALLET_ERRORS = errors_for(403, 404, codes={404: "WALLET_NOT_FOUND"})
_REPORT_ERRORS = errors_for(403)

_CSV_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": ",".join(CSV_COLUMNS) + "\r\n",
            }
        },
        "description": "the statement (JSON), or with format=csv a header row and one row per "
        "entry",
    }
}


@router.get(
    "/wallets/{walletId}/statement",
    response_model=Statement,
    operation_id="get_statement",
    responses={**_CSV_DOC, **_WALLET_ERRORS},
)
async def get_statement(
    walletId: UUID,
    caller: CallerDep,
    db: DbDep,
    first: FromDate = None,
    to: ToDate = None,
    format: StatementFormat = StatementFormat.JSON,
) -> StreamingResponse:
    """A wallet's statement over whole UTC days (in scope): opening balance (end of the day
    before `from`), closing balance, credits, debits, and every COMPLETED entry oldest first.
    TRANSFER_IN counts as a credit, TRANSFER_OUT as a debit. Streamed, so any range can be asked
    for."""
    request = await service.statement(db, caller, walletId, first, to)
    if format is StatementFormat.CSV:
        name = f"statement-{walletId}-{request.days.first}-{request.days.last}.csv"
        return StreamingResponse(
            render.as_csv(request.read()),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return StreamingResponse(render.as_json(request.read()), media_type="application/json")


@router.get(
    "/wallets/{walletId}/balance",
    response_model=BalanceAsOf,
    operation_id="get_balance_as_of",
    responses=_WALLET_ERRORS,
)
async def get_balance_as_of(
    walletId: UUID,
    caller: CallerDep,
    db: DbDep,
    as_of: Annotated[
        DateOrDateTime | None,
        Query(description="an ISO date-time (a date: the end of that day, UTC); default: now"),
    ] = None,
) -> Response:
    """The wallet's balance at an instant (in scope): right after its last COMPLETED entry at or
    before `as_of`, 0.00 before the first. One index lookup, whatever the history's length."""
    return model_response(await service.balance_as_of(db, caller, walletId, as_of))


@router.get(
    "/reports/spend",
    response_model=SpendReport,
    operation_id="get_spend_report",
    responses=_REPORT_ERRORS,
)
async def get_spend_report(
    caller: CallerDep,
    db: DbDep,
    first: FromDate = None,
    to: ToDate = None,
    group_by: GroupBy = GroupBy.USER,
    company_id: CompanyId = None,
) -> Response:
    """Spending over whole UTC days, grouped by user, month, type or reference_type (MANAGER:
    their team and themselves; ADMIN: their company; SYSTEM: the company named). `spent` sums
    COMPLETED debits, `refunded` the *_REFUND credits, `net = spent - refunded`; transfers are
    not spending. One row per key and currency, totals per currency."""
    report = await service.spend_report(
        db, caller, company_id=company_id, first=first, last=to, group_by=group_by
    )
    return model_response(report)


@router.get(
    "/reports/budgets",
    response_model=BudgetReport,
    operation_id="get_budget_report",
    responses=_REPORT_ERRORS,
)
async def get_budget_report(
    caller: CallerDep,
    db: DbDep,
    status: BudgetStatus = BudgetStatus.ACTIVE,
    company_id: CompanyId = None,
) -> Response:
    """Budgets with their utilisation (used / total x 100), most used first (MANAGER: their team
    and themselves; ADMIN: their company; SYSTEM: the company named)."""
    report = await service.budget_report(db, caller, company_id=company_id, status=status)
    return model_response(BudgetReport.model_validate(report))
