"""HTTP: holds (two-phase debits): place, capture, void. SYSTEM only."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wallet_service.deps import CallerDep, IdempotencyKey, LedgerDep
from wallet_service.ledger import holds
from wallet_service.ledger.schemas import CaptureHold, CreateHold, Transaction
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["holds"], route_class=ExactJsonRoute)


@router.post("/wallets/{walletId}/holds", status_code=201, response_model=Transaction)
async def place_hold(
    walletId: UUID,
    body: CreateHold,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Reserve an amount (SYSTEM): a PENDING DEBIT that lowers available_balance at once and
    reserves against HARD budgets. Needs an ACTIVE wallet and amount <= available_balance.
    Released automatically at expires_at (default: 7 days) unless captured or voided."""
    result = await holds.place_hold(ledger, caller, walletId, body, idempotency_key)
    return JSONResponse(result["body"], status_code=result["status"])


@router.post("/transactions/{txnId}/capture", response_model=Transaction)
async def capture_hold(
    txnId: UUID,
    caller: CallerDep,
    ledger: LedgerDep,
    body: CaptureHold | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Capture an open hold (SYSTEM), all of it or `amount` of it; the rest is released. The
    transaction becomes COMPLETED with amount = what was captured. Needs an ACTIVE wallet."""
    result = await holds.capture(ledger, caller, txnId, body, idempotency_key)
    return JSONResponse(result["body"], status_code=result["status"])


@router.post("/transactions/{txnId}/void", response_model=Transaction)
async def void_hold(
    txnId: UUID,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Void an open hold (SYSTEM): everything it held and reserved is released; CANCELLED.
    Allowed whatever the wallet's status."""
    result = await holds.void(ledger, caller, txnId, idempotency_key)
    return JSONResponse(result["body"], status_code=result["status"])
