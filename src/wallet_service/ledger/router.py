"""HTTP: transactions of a wallet, and single transactions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

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
from wallet_service.openapi import AUTHENTICATED, BatchProblem, errors_for
from wallet_service.responses import model_response
from wallet_service.wire import ExactJsonRoute

router = APIRouter(tags=["transactions"], responses=AUTHENTICATED, route_class=ExactJsonRoute)

POSTING_REFUSALS = "INSUFFICIENT_FUNDS, BUDGET_EXCEEDED, WALLET_NOT_ACTIVE, IDEMPOTENCY_KEY_REUSED"


@router.post(
    "/wallets/{walletId}/transactions",
    status_code=201,
    response_model=Transaction,
    responses={
        200: {"model": DryRun, "description": "with ?dry_run=true: what it would do"},
        **errors_for(403, 404, 409, codes={404: "WALLET_NOT_FOUND", 409: POSTING_REFUSALS}),
    },
)
async def post_transaction(
    walletId: UUID,
    body: CreateTransaction,
    caller: CallerDep,
    ledger: LedgerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    dry_run: Annotated[
        bool, Query(description="evaluate the posting and answer what it would do; write nothing")
    ] = False,
) -> Transaction | Response:
    """Credit or debit a wallet (SYSTEM). A debit needs amount <= available_balance, an ACTIVE
    wallet, and room in every HARD budget that covers today. With dry_run=true the same engine
    evaluates it and answers 200 with the outcome, changing nothing."""
    if dry_run:
        return model_response(
            DryRun.model_validate(await service.dry_run(ledger, caller, walletId, body))
        )
    result = await service.post_transaction(ledger, caller, walletId, body, idempotency_key)
    response.status_code = result["status"]
    return Transaction.model_validate(result["body"])


@router.post(
    "/transactions/batch",
    status_code=200,
    response_model=BatchResults,
    responses={
        201: {"model": BatchTransactions, "description": "atomic: every posting applied"},
        **errors_for(
            403,
            404,
            409,
            problem=BatchProblem,
            codes={
                404: "WALLET_NOT_FOUND (atomic)",
                409: f"{POSTING_REFUSALS} (atomic: the first refusal)",
            },
        ),
    },
)
async def post_batch(
    body: CreateBatch,
    caller: CallerDep,
    ledger: LedgerDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Apply 1 to 1,000 postings in request order in one database transaction (SYSTEM).
    atomic=true: all or nothing, 201 with every transaction, or the first refusal's status and
    problem with errors=[{index, code}]. atomic=false: 200 with one result per posting."""
    status, result = await service.post_batch(ledger, caller, body, idempotency_key)
    model = BatchTransactions if status == 201 else BatchResults
    return model_response(model.model_validate(result), status, exclude_unset=True)


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


# `:uuid`, so that /transactions/batch (POST only) is not read as a transaction id
@router.get(
    "/transactions/{txnId:uuid}",
    responses=errors_for(403, 404, codes={404: "TRANSACTION_NOT_FOUND"}),
)
async def get_transaction(txnId: UUID, caller: CallerDep, db: DbDep) -> Transaction:
    """One transaction, within the caller's scope."""
    return Transaction.model_validate(await service.get_transaction(db, caller, txnId))
