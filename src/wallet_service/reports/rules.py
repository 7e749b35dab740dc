"""Report rules with no I/O: date ranges, totals, refunds by category, and CSV cells that a
spreadsheet cannot run."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from wallet_service.errors import ValidationFailed

#: The suffix of a refund's reference_type: "<X>_REFUND" refunds entries of reference_type "<X>".
REFUND_SUFFIX = "_REFUND"


@dataclass(frozen=True)
class DayRange:
    """Dates `first` to `last`, both inclusive, read in UTC."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first instant of the range."""
        return datetime.combine(self.first, time.min, tzinfo=UTC)

    @property
    def end_before(self) -> datetime:
        """The first instant after the range (exclusive bound)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=UTC)


def month_of(day: date) -> DayRange:
    """The calendar month holding `day`."""
    last = calendar.monthrange(day.year, day.month)[1]
    return DayRange(day.replace(day=1), day.replace(day=last))


def day_range(first: date | None, last: date | None, today: date) -> DayRange:
    """`from`/`to` of a statement or report: each defaults to its end of the current month (UTC);
    `from` after `to` is refused."""
    month = month_of(today)
    chosen = DayRange(first or month.first, last or month.last)
    if chosen.first > chosen.last:
        raise ValidationFailed(
            f"from ({chosen.first}) must not be after to ({chosen.last})",
            errors=[{"loc": ["query", "from"], "msg": "must not be after to"}],
        )
    return chosen


def end_of_instant(value: datetime | date) -> datetime:
    """The exclusive bound just after `value`: a date covers its whole day (UTC); a date-time
    without an offset is read as UTC. Timestamps are stored to the microsecond."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=value.tzinfo or UTC) + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC)


def last_instant(end_before: datetime) -> datetime:
    """The last stored instant before an exclusive bound."""
    return end_before - timedelta(microseconds=1)


def refunded_category(reference_type: str | None) -> str | None:
    """The reference_type a refund is counted under: "BOOKING_REFUND" refunds a "BOOKING"."""
    if reference_type is not None and reference_type.endswith(REFUND_SUFFIX):
        return reference_type.removesuffix(REFUND_SUFFIX)
    return reference_type


@dataclass(frozen=True)
class Figures:
    """Spend figures of one key and currency, or a currency's totals."""

    spent: Decimal
    refunded: Decimal
    count: int

    @property
    def net(self) -> Decimal:
        return self.spent - self.refunded

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.spent + other.spent, self.refunded + other.refunded, self.count + other.count
        )


NO_FIGURES = Figures(Decimal("0.00"), Decimal("0.00"), 0)

#: (key, currency): one row of a spend report
RowKey = tuple[str | None, str]


def merge(rows: Iterable[tuple[RowKey, Figures]]) -> dict[RowKey, Figures]:
    """Rows with the same key and currency added up; ordered by key (None last), then currency."""
    out: dict[RowKey, Figures] = {}
    for key, figures in rows:
        out[key] = out.get(key, NO_FIGURES) + figures
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "", kv[0][1])))


def totals(rows: dict[RowKey, Figures]) -> dict[str, Figures]:
    """Per currency, the sum of the rows' figures, currencies in alphabetical order."""
    out: dict[str, Figures] = {}
    for (_, currency), figures in rows.items():
        out[currency] = out.get(currency, NO_FIGURES) + figures
    return dict(sorted(out.items()))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str | None) -> str:
    """A free-text CSV cell that a spreadsheet shows as text rather than evaluating as a formula
    (a description such as "=HYPERLINK(...)" gets a leading apostrophe)."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value
