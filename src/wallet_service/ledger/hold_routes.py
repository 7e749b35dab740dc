"""HTTP: holds (two-phase debits): place, capture, void. SYSTEM only."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from wallet_service.deps import CallerDep, IdempotencyKey, LedgerDep
from wallet_service.ledger import holds
from wallet_service.ledger.schemas import CaptureHold, CreateHold, Transaction
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["holds"], responses=AUTHENTICATED, route_class=ExactJsonRoute)


@router.post(
    "/wallets/{walletId}/holds",
    status_code=201,
    responses=errors_for(
        403,
        404,
        409,
        codes={
            404: "WALLET_NOT_FOUND",
            409: ("INSUFFICIENT_FUNDS, BUDGET_EXCEEDED, WALLET_NOT_ACTIVE, IDEMPOTENCY_KEY_REUSED"),
        },
    ),
)
async def place_hold(
    walletId: UUID,
    body: CreateHold,
    caller: CallerDep,
    ledger: LedgerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Transaction:
    """Reserve an amount (SYSTEM): a PENDING DEBIT that lowers available_balance at once and
    reserves against HARD budgets. Needs an ACTIVE wallet and amount <= available_balance.
    Released automatically at expires_at (default: 7 days) unless captured or voided."""
    result = await holds.place_hold(ledger, caller, walletId, body, idempotency_key)
    response.status_code = result["status"]
    return Transaction.model_validate(result["body"])


@router.post(
    "/transactions/{txnId}/capture",
    responses=errors_for(
        403,
        404,
        409,
        codes={
            404: "TRANSACTION_NOT_FOUND",
            409: (
                "HOLD_NOT_PENDING, CAPTURE_EXCEEDS_HOLD, WALLET_NOT_ACTIVE, IDEMPOTENCY_KEY_REUSED"
            ),
        },
    ),
)
async def capture_hold(
    txnId: UUID,
    caller: CallerDep,
    ledger: LedgerDep,
    response: Response,
    body: CaptureHold | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Transaction:
    """Capture an open hold (SYSTEM), all of it or `amount` of it; the rest is released. The
    transaction becomes COMPLETED with amount = what was captured. Needs an ACTIVE wallet."""
    result = await holds.capture(ledger, caller, txnId, body, idempotency_key)
    response.status_code = result["status"]
    return Transaction.model_validate(result["body"])


@router.post(
    "/transactions/{txnId}/void",
    responses=errors_for(
        403,
        404,
        409,
        codes={404: "TRANSACTION_NOT_FOUND", 409: "HOLD_NOT_PENDING, IDEMPOTENCY_KEY_REUSED"},
    ),
)
async def void_hold(
    txnId: UUID,
    caller: CallerDep,
    ledger: LedgerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Transaction:
    """Void an open hold (SYSTEM): everything it held and reserved is released; CANCELLED.
    Allowed whatever the wallet's status."""
    result = await holds.void(ledger, caller, txnId, idempotency_key)
    response.status_code = result["status"]
    return Transaction.model_validate(result["body"])
