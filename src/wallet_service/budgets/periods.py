"""Budget periods: pure date math, no I/O.

A period is a closed range of dates [start, end] (end inclusive). From a given start, a period
runs up to the day before the same day-of-month N months later (MONTHLY N=1, QUARTERLY 3,
YEARLY 12), clamped to the month's last day; WEEKLY runs seven days. So MONTHLY from 2026-11-01
ends 2026-11-30. The *current* period of a day (used for company default budgets) is the
calendar one: ISO week (Monday to Sunday), month, quarter or year holding that day."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from wallet_service.budgets.schemas import PeriodType

_MONTHS = {PeriodType.MONTHLY: 1, PeriodType.QUARTERLY: 3, PeriodType.YEARLY: 12}


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, clamped to the last day of the target month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def end_of_period(period_type: PeriodType, start: date) -> date:
    """The inclusive last day of the period of `period_type` that starts on `start`."""
    if period_type is PeriodType.WEEKLY:
        return start + timedelta(days=6)
    return add_months(start, _MONTHS[period_type]) - timedelta(days=1)


def next_period(period_type: PeriodType, end: date) -> tuple[date, date]:
    """The period that follows one ending on `end`: it starts the next day, so renewed budgets
    cover every day exactly once."""
    start = end + timedelta(days=1)
    return start, end_of_period(period_type, start)


def next_period_covering(period_type: PeriodType, end: date, today: date) -> tuple[date, date]:
    """The first period after the one ending on `end` that has not ended before `today`: a job
    that ran late (the service was down for weeks) renews straight into the present."""
    start, stop = next_period(period_type, end)
    while stop < today:
        start, stop = next_period(period_type, stop)
    return start, stop


def current_period(period_type: PeriodType, today: date) -> tuple[date, date]:
    """The calendar period of `period_type` holding `today`."""
    if period_type is PeriodType.WEEKLY:
        start = today - timedelta(days=today.weekday())
    elif period_type is PeriodType.MONTHLY:
        start = today.replace(day=1)
    elif period_type is PeriodType.QUARTERLY:
        start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    else:
        start = date(today.year, 1, 1)
    return start, end_of_period(period_type, start)
