"""Shapes of statements, point-in-time balances, the spend report and the budget report."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from wallet_service.budgets.schemas import BudgetStatus, Enforcement, PeriodType
from wallet_service.ledger.schemas import Transaction
from wallet_service.money import Amount, Currency, SignedAmount


class StatementFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class GroupBy(StrEnum):
    USER = "user"
    MONTH = "month"
    TYPE = "type"
    REFERENCE_TYPE = "reference_type"


class _Ranged(BaseModel):
    """Responses with a `from` field (a Python keyword, hence the alias)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_: date = Field(alias="from", description="first day, inclusive (UTC)")
    to: date = Field(description="last day, inclusive (UTC)")


class StatementEntry(Transaction):
    posted_at: datetime = Field(
        description="when the money moved (a captured hold: its capture); entries are in this order"
    )


class Statement(_Ranged):
    """`opening_balance + total_credits - total_debits = closing_balance`. TRANSFER_IN counts as
    a credit and TRANSFER_OUT as a debit; only COMPLETED entries, oldest first."""

    wallet_id: UUID
    user_id: UUID
    currency: Currency
    opening_balance: Amount = Field(description="the balance at the end of the day before from")
    closing_balance: Amount = Field(description="the balance at the end of to")
    total_credits: Amount
    total_debits: Amount
    count: int
    entries: list[StatementEntry]


#: The columns of a CSV statement, in order.
CSV_COLUMNS = (
    "txn_id",
    "posted_at",
    "created_at",
    "type",
    "amount",
    "balance_after",
    "description",
    "reference_id",
    "reference_type",
    "transfer_id",
)


class BalanceAsOf(BaseModel):
    wallet_id: UUID
    currency: Currency
    as_of: datetime = Field(description="the instant asked about (a date: the end of that day)")
    balance: Amount = Field(
        description="right after the last COMPLETED entry at or before as_of; 0.00 before the first"
    )


class SpendFigures(BaseModel):
    currency: Currency
    spent: Amount = Field(description="COMPLETED DEBITs (captured holds included)")
    refunded: Amount = Field(description="COMPLETED credits whose reference_type ends in _REFUND")
    net: SignedAmount = Field(description="spent - refunded")
    count: int = Field(description="the number of debits")


class SpendRow(BaseModel):
    """The figures of one key in one currency (fields as in SpendFigures, after the key)."""

    key: str | None = Field(
        description="the user_id, the month (YYYY-MM), the type or the reference_type (a refund "
        "counts under the reference_type it refunds: BOOKING_REFUND under BOOKING); null for none"
    )
    currency: Currency
    spent: Amount
    refunded: Amount
    net: SignedAmount
    count: int


class SpendReport(_Ranged):
    group_by: GroupBy
    rows: list[SpendRow]
    totals: list[SpendFigures] = Field(description="per currency")


#: A percentage with two decimals, sent as a JSON number.
Percentage = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class BudgetUtilisation(BaseModel):
    budget_id: UUID
    wallet_id: UUID
    user_id: UUID
    currency: Currency
    period_type: PeriodType
    start_date: date
    end_date: date
    total_amount: Amount
    used_amount: Amount
    reserved_amount: Amount = Field(description="held by open holds")
    remaining_amount: SignedAmount = Field(description="total - used (negative past a SOFT total)")
    utilisation_pct: Percentage = Field(description="used / total x 100, two decimals")
    enforcement: Enforcement
    status: BudgetStatus


class BudgetReport(BaseModel):
    budgets: list[BudgetUtilisation] = Field(description="most used first")
