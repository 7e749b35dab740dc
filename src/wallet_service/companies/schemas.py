"""Shapes of GET/PUT /companies/{companyId}/defaults."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from wallet_service.budgets.schemas import DEFAULT_THRESHOLDS, Enforcement, PeriodType, Threshold
from wallet_service.money import Amount, Currency, NonNegativeAmount, PositiveAmount
from wallet_service.wallets.schemas import StrictModel


class DefaultBudget(StrictModel):
    period_type: PeriodType
    total_amount: PositiveAmount
    enforcement: Enforcement = Enforcement.HARD
    alert_thresholds: list[Threshold] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS), max_length=10
    )

    @field_validator("alert_thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(t < 1 or t > 1000 for t in value):
            raise ValueError("each alert threshold is a percentage between 1 and 1000")
        return sorted(set(value))


class UpdateDefaults(StrictModel):
    """Fields left out keep their current value."""

    auto_create_wallet: bool | None = None
    currency: Currency | None = None
    initial_balance: NonNegativeAmount | None = None
    budgets: list[DefaultBudget] | None = Field(default=None, max_length=4)

    @field_validator("budgets")
    @classmethod
    def _one_per_period(cls, value: list[DefaultBudget] | None) -> list[DefaultBudget] | None:
        if value is not None and len({b.period_type for b in value}) != len(value):
            raise ValueError("at most one default budget per period_type")
        return value


class DefaultBudgetOut(BaseModel):
    period_type: PeriodType
    total_amount: Amount
    enforcement: Enforcement
    alert_thresholds: list[int]


class CompanyDefaults(BaseModel):
    company_id: UUID
    auto_create_wallet: bool = True
    currency: Currency = Currency.USD
    initial_balance: Amount = Decimal("0.00")
    budgets: list[DefaultBudgetOut] = Field(default_factory=list)
    updated_at: datetime | None = None
