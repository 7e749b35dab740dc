"""HTTP: transactions of a wallet, and single transactions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from wallet_service.deps import CallerDep, DbDep, IdempotencyKey, LedgerDep
from wallet_service.ledger import service
from wallet_service.ledger.schemas import (
    BatchResults,
    BatchTransactions,
    CreateBatch,
    CreateTransaction,
    DryRun,
    Transaction,
    TransactionFilter,
    TransactionPage,
)
from wallet_service.responses import model_json
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["transactions"], route_class=ExactJsonRoute)


@router.post(
    "/wallets/{walletId}/transactions",
    status_code=201,
    response_model=Transaction,
    responses={200: {"model": DryRun, "description": "with ?dry_run=true: what it would do"}},
)
async def post_transaction(
    walletId: UUID,
    body: CreateTransaction,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
    dry_run: Annotated[
        bool, Query(description="evaluate the posting and answer what it would do; write nothing")
    ] = False,
) -> JSONResponse:
    """Credit or debit a wallet (SYSTEM). A debit needs amount <= available_balance, an ACTIVE
    wallet, and room in every HARD budget that covers today. With dry_run=true the same engine
    evaluates it and answers 200 with the outcome, changing nothing."""
    if dry_run:
        return model_json(DryRun, await service.dry_run(ledger, caller, walletId, body))
    result = await service.post_transaction(ledger, caller, walletId, body, idempotency_key)
    return model_json(Transaction, result["body"], result["status"])


@router.post(
    "/transactions/batch",
    status_code=200,
    response_model=BatchResults,
    responses={201: {"model": BatchTransactions, "description": "atomic: every posting applied"}},
)
async def post_batch(
    body: CreateBatch,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Apply 1 to 1,000 postings in request order in one database transaction (SYSTEM).
    atomic=true: all or nothing, 201 with every transaction, or the first refusal's status and
    problem with errors=[{index, code}]. atomic=false: 200 with one result per posting."""
    status, result = await service.post_batch(ledger, caller, body, idempotency_key)
    model = BatchTransactions if status == 201 else BatchResults
    return model_json(model, result, status)


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
