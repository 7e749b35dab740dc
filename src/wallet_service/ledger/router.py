"""HTTP: transactions of a wallet, and single transactions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.ledger import service
from wallet_service.ledger.schemas import (
    CreateTransaction,
    Transaction,
    TransactionFilter,
    TransactionPage,
)
from wallet_service.responses import model_json
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["transactions"], route_class=ExactJsonRoute)


@router.post("/wallets/{walletId}/transactions", status_code=201, response_model=Transaction)
async def post_transaction(
    walletId: UUID,
    body: CreateTransaction,
    caller: CallerDep,
    db: DbDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Credit or debit a wallet (SYSTEM). A debit needs amount <= available_balance, an ACTIVE
    wallet, and room in every HARD budget that covers today."""
    result = await service.post_transaction(db, caller, walletId, body, idempotency_key)
    return model_json(Transaction, result["body"], result["status"])


@router.get("/wallets/{walletId}/transactions", response_model=TransactionPage)
async def list_transactions(
    walletId: UUID,
    query: Annotated[TransactionFilter, Query()],
    caller: CallerDep,
    db: DbDep,
) -> JSONResponse:
    """A wallet's transactions, newest first; start_date and end_date are inclusive."""
    return model_json(TransactionPage, await service.list_transactions(db, caller, walletId, query))


@router.get("/transactions/{txnId}", response_model=Transaction)
async def get_transaction(txnId: UUID, caller: CallerDep, db: DbDep) -> JSONResponse:
    """One transaction, within the caller's scope."""
    return model_json(Transaction, await service.get_transaction(db, caller, txnId))
