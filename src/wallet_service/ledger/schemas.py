"""Request and response shapes of the transaction endpoints."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    model_validator,
)

from wallet_service.dates import (
    IN_BOUNDS_SCHEMA,
    BoundedDateTime,
    check_date,
    iso_date_text,
    iso_datetime_text,
)
from wallet_service.metadata import Metadata
from wallet_service.money import Amount, PositiveAmount, SignedAmount
from wallet_service.wallets.schemas import Pagination, StrictModel


class TxnType(StrEnum):
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"


class PostingType(StrEnum):
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"


class TxnStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class CreateTransaction(StrictModel):
    amount: PositiveAmount
    type: PostingType
    description: str | None = Field(default=None, max_length=1000)
    reference_id: str | None = Field(default=None, max_length=100)
    reference_type: str | None = Field(default=None, max_length=50)
    metadata: Metadata | None = None


class BatchPosting(CreateTransaction):
    """One posting of a batch."""

    wallet_id: UUID


#: Postings per batch at most.
MAX_BATCH = 1000


class CreateBatch(StrictModel):
    """Body of POST /transactions/batch."""

    atomic: bool = Field(
        default=False,
        description="true: all or nothing; false (default): each posting on its own",
    )
    postings: list[BatchPosting] = Field(min_length=1, max_length=MAX_BATCH)


class BudgetPreview(BaseModel):
    budget_id: UUID
    used_amount_after: Amount
    remaining_amount_after: SignedAmount
    thresholds_crossed: list[int]


class DryRun(BaseModel):
    """What a posting would do now (nothing was written)."""

    would_succeed: bool
    code: str | None = Field(description="null when it would succeed, else the error code")
    detail: str | None
    balance_after: Amount
    available_balance_after: Amount
    budgets: list[BudgetPreview]


class Transaction(BaseModel):
    txn_id: UUID
    wallet_id: UUID
    amount: Amount
    type: TxnType
    description: str | None
    reference_id: str | None
    reference_type: str | None
    status: TxnStatus
    metadata: dict[str, Any] | None
    balance_after: Amount | None = Field(description="the wallet balance right after this entry")
    transfer_id: UUID | None = None
    hold_amount: Amount | None = Field(default=None, description="for holds: the amount reserved")
    expires_at: datetime | None = None
    failure_code: str | None = Field(default=None, description="for FAILED: the error code")
    created_at: datetime
    updated_at: datetime


class TransactionPage(BaseModel):
    transactions: list[Transaction]
    pagination: Pagination


def _date_or_datetime(value: Any) -> Any:
    """A plain ISO date ("2026-11-24") stays a date (a whole day); else an ISO date-time."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(iso_date_text(value))
    return iso_datetime_text(value)


#: A query bound: an ISO date (the whole UTC day) or an ISO date-time.
DateOrDateTime = Annotated[
    datetime | date,
    BeforeValidator(_date_or_datetime),
    AfterValidator(check_date),
    IN_BOUNDS_SCHEMA,
]


class TransactionFilter(BaseModel):
    """Query of GET /wallets/{walletId}/transactions. Dates are inclusive; a plain date as
    end_date means the whole of that day (UTC)."""

    page: int = Field(default=1, ge=1, le=100000)
    limit: int = Field(default=20, ge=1, le=100)
    start_date: DateOrDateTime | None = None
    end_date: DateOrDateTime | None = None
    type: TxnType | None = None
    status: TxnStatus | None = None


class CreateTransfer(StrictModel):
    """Body of POST /transfers."""

    from_wallet_id: UUID
    to_wallet_id: UUID
    amount: PositiveAmount
    description: str | None = Field(default=None, max_length=1000)
    reference_id: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _not_to_itself(self) -> Self:
        if self.from_wallet_id == self.to_wallet_id:
            raise ValueError(
                "from_wallet_id and to_wallet_id must differ: a wallet cannot pay itself"
            )
        return self


class Transfer(BaseModel):
    """The two legs of a transfer, linked by transfer_id."""

    transfer_id: UUID
    debit: Transaction = Field(description="the TRANSFER_OUT on the source wallet")
    credit: Transaction = Field(description="the TRANSFER_IN on the destination wallet")


class CreateHold(StrictModel):
    """Body of POST /wallets/{walletId}/holds. A naive expires_at is read as UTC."""

    amount: PositiveAmount
    description: str | None = Field(default=None, max_length=1000)
    reference_id: str | None = Field(default=None, max_length=100)
    reference_type: str | None = Field(default=None, max_length=50)
    expires_at: BoundedDateTime | None = Field(
        default=None, description="when the hold lapses if not captured; default: 7 days from now"
    )


class CaptureHold(StrictModel):
    """Body of POST /transactions/{txnId}/capture; no amount captures the whole hold."""

    amount: PositiveAmount | None = None


class BatchTransactions(BaseModel):
    """Answer of an atomic batch: every posting applied, in request order."""

    transactions: list[Transaction]


class PostingError(BaseModel):
    code: str
    detail: str | None


class BatchResult(BaseModel):
    index: int
    status: int
    transaction: Transaction | None = None
    error: PostingError | None = None


class BatchResults(BaseModel):
    """Answer of a non-atomic batch: one result per posting, in request order."""

    results: list[BatchResult]
