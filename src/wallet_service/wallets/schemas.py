"""Request and response shapes of the wallet endpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from wallet_service.money import Amount, Currency, NonNegativeAmount


class WalletStatus(StrEnum):
    ACTIVE = "ACTIVE"
    FROZEN = "FROZEN"
    CLOSED = "CLOSED"


class StrictModel(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class CreateWallet(StrictModel):
    user_id: UUID
    initial_balance: NonNegativeAmount = Decimal("0.00")
    currency: Currency = Currency.USD


class ChangeStatus(StrictModel):
    status: WalletStatus
    reason: str | None = Field(default=None, max_length=500)


class Wallet(BaseModel):
    wallet_id: UUID
    user_id: UUID
    company_id: UUID
    balance: Amount
    available_balance: Amount = Field(description="balance minus open holds")
    held_amount: Amount
    currency: Currency
    status: WalletStatus
    version: int = Field(description="bumped by every change of the wallet")
    created_at: datetime
    updated_at: datetime


class Pagination(BaseModel):
    page: int
    limit: int
    total: int


class WalletPage(BaseModel):
    wallets: list[Wallet]
    pagination: Pagination
