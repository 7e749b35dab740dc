"""Request and response shapes of budgets."""

from __future__ import annotations

from enum import StrEnum


class PeriodType(StrEnum):
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    YEARLY = "YEARLY"


class Enforcement(StrEnum):
    HARD = "HARD"
    SOFT = "SOFT"


DEFAULT_THRESHOLDS = [80, 100]
