"""The `data` of every event this service publishes (contract section 6): the one declaration of
each shape. Events written from Python are built through these models (outbox.emit); events
written by the SQL functions are checked against the same models by the tests, with real events
from the outbox; /asyncapi.json shows their JSON Schemas."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from wallet_service.budgets.schemas import Budget, BudgetStatus, Enforcement, PeriodType
from wallet_service.ledger.schemas import TxnType
from wallet_service.money import Amount, Currency, NonNegativeAmount
from wallet_service.wallets.schemas import WalletStatus


class WalletCreated(BaseModel):
    """A wallet was opened (its initial balance follows as a TransactionCompleted CREDIT)."""

    wallet_id: UUID
    user_id: UUID
    initial_balance: NonNegativeAmount
    currency: Currency


class WalletStatusChanged(BaseModel):
    """A wallet was frozen, unfrozen or closed."""

    wallet_id: UUID
    user_id: UUID
    old_status: WalletStatus
    new_status: WalletStatus
    reason: str | None
    changed_by: UUID = Field(description="the sub of who changed it")


class TransactionCompleted(BaseModel):
    """An entry moved a wallet's balance: a posting, a transfer leg, a captured hold."""

    txn_id: UUID
    wallet_id: UUID
    user_id: UUID
    amount: Amount
    type: TxnType
    reference_id: str | None
    reference_type: str | None
    new_balance: Amount
    currency: Currency
    transfer_id: UUID | None = Field(default=None, description="only on the legs of a transfer")


class TransactionFailed(BaseModel):
    """A booking's debit was refused; a FAILED transaction records why."""

    txn_id: UUID
    wallet_id: UUID
    user_id: UUID
    amount: Amount
    currency: Currency
    type: TxnType
    reference_id: str | None
    reference_type: str | None
    code: str = Field(description="the contract's error code, e.g. INSUFFICIENT_FUNDS")
    reason: str | None


class BudgetCreated(Budget):
    """A budget was opened (by a person, by company defaults, or by an auto-renewal)."""

    user_id: UUID


class BudgetChanges(BaseModel):
    """What a BudgetUpdated changed (the period job's expiry sends only statuses and reason)."""

    old_amount: Amount | None = None
    new_amount: Amount | None = None
    old_status: BudgetStatus | None = None
    new_status: BudgetStatus | None = None
    old_end_date: date | None = None
    new_end_date: date | None = None
    reason: str | None = None
    changed_by: UUID | None = None


class BudgetUpdated(Budget):
    """A budget's total, end date or status changed, or its period ended (EXPIRED)."""

    user_id: UUID
    changes: BudgetChanges


class BudgetExceeded(BaseModel):
    """Usage reached one of the budget's alert thresholds (one event per threshold crossed)."""

    budget_id: UUID
    wallet_id: UUID
    user_id: UUID
    exceeded_amount: Amount = Field(description="max(0, used - total)")
    threshold_percentage: int
    used_amount: Amount
    total_amount: Amount
    period_type: PeriodType
    enforcement: Enforcement
    txn_id: UUID | None = Field(description="the debit that crossed it; null after a total change")


class HoldPlaced(BaseModel):
    txn_id: UUID
    wallet_id: UUID
    user_id: UUID
    amount: Amount
    reference_id: str | None
    reference_type: str | None
    expires_at: datetime
    available_balance: Amount
    currency: Currency


class HoldCaptured(BaseModel):
    txn_id: UUID
    wallet_id: UUID
    user_id: UUID
    hold_amount: Amount
    captured_amount: Amount
    released_amount: Amount
    reference_id: str | None
    reference_type: str | None
    new_balance: Amount
    currency: Currency


class HoldVoidReason(StrEnum):
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


class HoldVoided(BaseModel):
    txn_id: UUID
    wallet_id: UUID
    user_id: UUID
    amount: Amount
    reference_id: str | None
    reference_type: str | None
    reason: HoldVoidReason
    available_balance: Amount
    currency: Currency


class TransferCompleted(BaseModel):
    """Money moved between two wallets (a TRANSFER_OUT and a TRANSFER_IN)."""

    transfer_id: UUID
    from_wallet_id: UUID
    to_wallet_id: UUID
    amount: Amount
    currency: Currency
    debit_txn_id: UUID
    credit_txn_id: UUID
    reference_id: str | None


class SuspiciousActivityDetected(BaseModel):
    """Contract section 7. Not published yet: suspicious-activity monitoring is not built; when it
    is, it builds this event from this model."""

    alert_id: UUID
    wallet_id: UUID
    user_id: UUID
    company_id: UUID
    rule: str = Field(description="VELOCITY, LARGE_AMOUNT or REPEATED_DECLINES")
    details: dict[str, Any]


#: event_type -> the model of its data, in the contract's order
PUBLISHED: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        WalletCreated,
        WalletStatusChanged,
        TransactionCompleted,
        TransactionFailed,
        BudgetCreated,
        BudgetUpdated,
        BudgetExceeded,
        HoldPlaced,
        HoldCaptured,
        HoldVoided,
        TransferCompleted,
        SuspiciousActivityDetected,
    )
}
#: declared for the contract, not emitted by this version
NOT_YET_EMITTED = frozenset({"SuspiciousActivityDetected"})
