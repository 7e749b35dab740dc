"""HTTP: /wallets."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from wallet_service.deps import CallerDep, DbDep, IdempotencyKey
from wallet_service.responses import model_json
from wallet_service.wallets import service
from wallet_service.wallets.schemas import (
    ChangeStatus,
    CreateWallet,
    Wallet,
    WalletPage,
    WalletStatus,
)
from wallet_service.wire import ExactJsonRoute

router = APIRouter(prefix="/wallets", tags=["wallets"], route_class=ExactJsonRoute)


@router.post("", status_code=201, response_model=Wallet)
async def create_wallet(
    body: CreateWallet, caller: CallerDep, db: DbDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Open a wallet for a known user (ADMIN, MANAGER for their team, SYSTEM). A positive
    initial_balance is booked as a CREDIT entry."""
    status, wallet = await service.create_wallet(db, caller, body, idempotency_key)
    return model_json(Wallet, wallet, status)


@router.get("", response_model=WalletPage)
async def list_wallets(
    caller: CallerDep,
    db: DbDep,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    status: WalletStatus | None = None,
) -> JSONResponse:
    """Wallets in scope, newest first (MANAGER: own and team; ADMIN: company; SYSTEM: all)."""
    result = await service.list_wallets(db, caller, page=page, limit=limit, status=status)
    return model_json(WalletPage, result)


@router.get("/{userId}", response_model=Wallet)
async def get_wallet(userId: UUID, caller: CallerDep, db: DbDep) -> JSONResponse:
    """A user's wallet, with balance and available_balance (balance minus open holds)."""
    return model_json(Wallet, await service.get_wallet(db, caller, userId))


@router.put("/{walletId}/status", response_model=Wallet)
async def change_status(
    walletId: UUID,
    body: ChangeStatus,
    caller: CallerDep,
    db: DbDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Freeze (credits only), unfreeze, or close (needs a zero balance; final)."""
    status, wallet = await service.change_status(db, caller, walletId, body, idempotency_key)
    return model_json(Wallet, wallet, status)
