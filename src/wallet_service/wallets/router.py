"""HTTP: /wallets."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.openapi import AUTHENTICATED, errors_for
from wallet_service.wallets import service
from wallet_service.wallets.schemas import (
    ChangeStatus,
    CreateWallet,
    Wallet,
    WalletPage,
    WalletStatus,
)
from wallet_service.wire import ExactJsonRoute

router = APIRouter(
    prefix="/wallets", tags=["wallets"], responses=AUTHENTICATED, route_class=ExactJsonRoute
)


@router.post(
    "",
    status_code=201,
    responses=errors_for(
        403, 404, 409, codes={404: "USER_NOT_FOUND", 409: "WALLET_EXISTS, IDEMPOTENCY_KEY_REUSED"}
    ),
)
async def create_wallet(
    body: CreateWallet,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Wallet:
    """Open a wallet for a known user (ADMIN, MANAGER for their team, SYSTEM). A positive
    initial_balance is booked as a CREDIT entry."""
    status, wallet = await service.create_wallet(db, caller, body, idempotency_key)
    response.status_code = status
    return Wallet.model_validate(wallet)


@router.get("", responses=errors_for(403))
async def list_wallets(
    caller: CallerDep,
    db: DbDep,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: WalletStatus | None = None,
) -> WalletPage:
    """Wallets in scope, newest first (MANAGER: own and team; ADMIN: company; SYSTEM: all)."""
    result = await service.list_wallets(db, caller, page=page, limit=limit, status=status)
    return WalletPage.model_validate(result)


@router.get("/{userId}", responses=errors_for(403, 404, codes={404: "WALLET_NOT_FOUND"}))
async def get_wallet(userId: UUID, caller: CallerDep, db: DbDep) -> Wallet:
    """A user's wallet, with balance and available_balance (balance minus open holds)."""
    return Wallet.model_validate(await service.get_wallet(db, caller, userId))


@router.put(
    "/{walletId}/status",
    responses=errors_for(
        403,
        404,
        409,
        codes={
            404: "WALLET_NOT_FOUND",
            409: "INVALID_STATUS_TRANSITION, WALLET_NOT_EMPTY, IDEMPOTENCY_KEY_REUSED",
        },
    ),
)
async def update_wallet_status(
    walletId: UUID,
    body: ChangeStatus,
    caller: CallerDep,
    db: DbDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Wallet:
    """Freeze (credits only), unfreeze, or close (needs a zero balance; final)."""
    status, wallet = await service.change_status(db, caller, walletId, body, idempotency_key)
    response.status_code = status
    return Wallet.model_validate(wallet)
