"""Date bounds for requests (pure). Dates a client sends must lie in [1900-01-01, 9998-12-31]:
outside it, period arithmetic overflows Python's date, and asyncpg maps date.min/date.max to
PostgreSQL's -infinity/infinity, which would store a budget or a hold that never ends."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(9998, 12, 31)


def check_date(value: date) -> date:
    day = value.astimezone(UTC).date() if isinstance(value, datetime) and value.tzinfo else value
    if isinstance(day, datetime):
        day = day.date()
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)


def iso_date_text(value: Any) -> Any:
    """A date travels as an ISO 8601 string, YYYY-MM-DD (pydantic alone would also read a
    number, or a string of digits, as a Unix timestamp)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date, YYYY-MM-DD")


def iso_datetime_text(value: Any) -> Any:
    """A date-time travels as an ISO 8601 string, e.g. 2026-11-24T09:30:00Z."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATETIME.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-24T09:30:00Z")


def aware_utc(value: datetime) -> datetime:
    """A date-time without an offset is read as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: The years within the bounds, for the JSON Schema (which cannot compare dates).
YEAR_IN_BOUNDS = r"^(19\d\d|[2-8]\d{3}|9[0-8]\d\d|99[0-8]\d)-"
IN_BOUNDS_SCHEMA = Field(json_schema_extra={"pattern": YEAR_IN_BOUNDS})

#: A calendar date within the bounds.
BoundedDate = Annotated[
    date, BeforeValidator(iso_date_text), AfterValidator(check_date), IN_BOUNDS_SCHEMA
]
#: A date-time within the bounds; a naive one is read as UTC.
BoundedDateTime = Annotated[
    datetime,
    BeforeValidator(iso_datetime_text),
    AfterValidator(aware_utc),
    AfterValidator(check_date),
    IN_BOUNDS_SCHEMA,
]
