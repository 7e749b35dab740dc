"""Date bounds for requests (pure). Dates a client sends must lie in [1900-01-01, 9998-12-31]:
outside it, period arithmetic overflows Python's date, and asyncpg maps date.min/date.max to
PostgreSQL's -infinity/infinity, which would store a budget or a hold that never ends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9998, 12, 31)


def check_date(value: date) -> date:
    day = value.astimezone(UTC).date() if isinstance(value, datetime) and value.tzinfo else value
    if isinstance(day, datetime):
        day = day.date()
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


def aware_utc(value: datetime) -> datetime:
    """A date-time without an offset is read as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: A calendar date within the bounds.
BoundedDate = Annotated[date, AfterValidator(check_date)]
#: A date-time within the bounds; a naive one is read as UTC.
BoundedDateTime = Annotated[datetime, AfterValidator(aware_utc), AfterValidator(check_date)]
