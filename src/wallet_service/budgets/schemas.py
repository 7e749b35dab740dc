"""Request and response shapes of budgets."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from wallet_service.dates import BoundedDate
from wallet_service.money import Amount, PositiveAmount, SignedAmount


class PeriodType(StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class Enforcement(StrEnum):
    HARD = "HARD"
    SOFT = "SOFT"


class BudgetStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"


class SettableStatus(StrEnum):
    """What PUT may set; EXPIRED is reached only when the period ends."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


DEFAULT_THRESHOLDS = [80, 100]
#: An alert threshold in a request: a percentage of the total (checked by check_thresholds).
Threshold = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 1000})]


def check_thresholds(value: list[int]) -> list[int]:
    """Alert thresholds are percentages of the total between 1 and 1000; stored sorted, once."""
    if any(t < 1 or t > 1000 for t in value):
        raise ValueError("each alert threshold is a percentage between 1 and 1000")
    return sorted(set(value))


class _Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class CreateBudget(_Strict):
    wallet_id: UUID
    total_amount: PositiveAmount
    period_type: PeriodType = PeriodType.MONTHLY
    start_date: BoundedDate
    end_date: BoundedDate | None = Field(
        default=None, description="inclusive; defaults to the end of the period from start_date"
    )
    enforcement: Enforcement = Enforcement.HARD
    alert_thresholds: list[Threshold] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS), max_length=10
    )
    auto_renew: bool = False

    _thresholds = field_validator("alert_thresholds")(check_thresholds)

    @model_validator(mode="after")
    def _dates(self) -> CreateBudget:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class UpdateBudget(_Strict):
    """Fields left out keep their value; at least one of total_amount, end_date, status."""

    total_amount: PositiveAmount | None = None
    end_date: BoundedDate | None = None
    status: SettableStatus | None = None
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> UpdateBudget:
        if self.total_amount is None and self.end_date is None and self.status is None:
            raise ValueError("send at least one of total_amount, end_date, status")
        return self


class Budget(BaseModel):
    budget_id: UUID
    wallet_id: UUID
    company_id: UUID
    total_amount: Amount
    used_amount: Amount
    reserved_amount: Amount = Field(description="held by open holds; counts against HARD budgets")
    remaining_amount: SignedAmount = Field(
        description="total_amount - used_amount (negative past a SOFT total)"
    )
    period_type: PeriodType
    start_date: date
    end_date: date = Field(description="inclusive")
    status: BudgetStatus
    enforcement: Enforcement
    alert_thresholds: list[int]
    auto_renew: bool
    renewed_from: UUID | None = Field(description="the budget of the previous period, if renewed")
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class BudgetList(BaseModel):
    budgets: list[Budget]


class HistoryEntry(BaseModel):
    history_id: UUID
    budget_id: UUID
    old_amount: Amount | None
    new_amount: Amount | None
    old_status: BudgetStatus | None
    new_status: BudgetStatus | None
    change_reason: str | None
    changed_by: UUID
    created_at: datetime


class BudgetHistory(BaseModel):
    history: list[HistoryEntry]
