"""HTTP: POST /transfers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wallet_service.deps import CallerDep, IdempotencyKey, LedgerDep
from wallet_service.ledger import transfers
from wallet_service.ledger.schemas import CreateTransfer, Transfer
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["transactions"], route_class=ExactJsonRoute)


@router.post("/transfers", status_code=201, response_model=Transfer)
async def post_transfer(
    body: CreateTransfer,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Move money between two wallets of one company and currency (ADMIN, MANAGER for their
    team's wallets, SYSTEM): a TRANSFER_OUT and a TRANSFER_IN written atomically, linked by
    transfer_id. The source must be ACTIVE with amount <= available_balance; the destination
    ACTIVE or FROZEN. Transfers do not count against budgets."""
    result = await transfers.transfer(ledger, caller, body, idempotency_key)
    return JSONResponse(result["body"], status_code=result["status"])
