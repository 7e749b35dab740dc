"""HTTP: POST /transfers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wallet_service.deps import CallerDep, IdempotencyKey, LedgerDep
from wallet_service.ledger import transfers
from wallet_service.ledger.schemas import CreateTransfer, Transfer
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["transactions"], responses=AUTHENTICATED, route_class=ExactJsonRoute)


@router.post(
    "/transfers",
    status_code=201,
    responses=errors_for(
        403,
        404,
        409,
        codes={
            404: "WALLET_NOT_FOUND",
            409: (
                "INSUFFICIENT_FUNDS, WALLET_NOT_ACTIVE, CURRENCY_MISMATCH, IDEMPOTENCY_KEY_REUSED"
            ),
        },
    ),
)
async def create_transfer(
    body: CreateTransfer,
    caller: CallerDep,
    ledger: LedgerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Transfer:
    """Move money between two wallets of one company and currency (ADMIN, MANAGER for their
    team's wallets, SYSTEM): a TRANSFER_OUT and a TRANSFER_IN written atomically, linked by
    transfer_id. The source must be ACTIVE with amount <= available_balance; the destination
    ACTIVE or FROZEN. Transfers do not count against budgets."""
    result = await transfers.transfer(ledger, caller, body, idempotency_key)
    response.status_code = result["status"]
    return Transfer.model_validate(result["body"])
