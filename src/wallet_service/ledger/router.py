"""HTTP: transactions of a wallet, and single transactions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.ledger import service
from wallet_service.ledger.schemas import (
    CreateTransaction,
    Transaction,
    TransactionFilter,
    TransactionPage,
)
from wallet_service.openapi import AUTHENTICATED, errors_for

router = APIRouter(tags=["transactions"], responses=AUTHENTICATED)


@router.post(
    "/wallets/{walletId}/transactions",
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
async def post_transaction(
    walletId: UUID,
    body: CreateTransaction,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Transaction:
    """Credit or debit a wallet (SYSTEM). A debit needs amount <= available_balance, an ACTIVE
    wallet, and room in every HARD budget that covers today."""
    result = await service.post_transaction(db, caller, walletId, body, idempotency_key)
    response.status_code = result["status"]
    return Transaction.model_validate(result["body"])


@router.get(
    "/wallets/{walletId}/transactions",
    responses=errors_for(403, 404, codes={404: "WALLET_NOT_FOUND"}),
)
async def list_transactions(
    walletId: UUID,
    query: Annotated[TransactionFilter, Query()],
    caller: CallerDep,
    db: DbDep,
) -> TransactionPage:
    """A wallet's transactions, newest first; start_date and end_date are inclusive."""
    page = await service.list_transactions(db, caller, walletId, query)
    return TransactionPage.model_validate(page)


@router.get(
    "/transactions/{txnId}", responses=errors_for(403, 404, codes={404: "TRANSACTION_NOT_FOUND"})
)
async def get_transaction(txnId: UUID, caller: CallerDep, db: DbDep) -> Transaction:
    """One transaction, within the caller's scope."""
    return Transaction.model_validate(await service.get_transaction(db, caller, txnId))
