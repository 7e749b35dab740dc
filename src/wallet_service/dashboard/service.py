"""What the manager dashboard shows, for the signed-in caller's scope, assembled from the services
that answer the same questions over the API (so the dashboard never sees more than the API
would let the same token see).

Open alerts are not shown yet: the alerts API (contract, "Audit and monitoring") does not exist.
When it does, `overview()` gains an `alerts` list from its service and the template a section
(see the note in templates/overview.html)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from wallet_service.auth.caller import Caller, Role
from wallet_service.auth.scope import require_role
from wallet_service.budgets.schemas import BudgetStatus
from wallet_service.db.pool import Database
from wallet_service.errors import Forbidden
from wallet_service.reports import service as reports
from wallet_service.reports.schemas import GroupBy, SpendRow
from wallet_service.wallets import service as wallets

MONTHS = 6
WALLETS_SHOWN = 100
RECENT = 15


@dataclass(frozen=True)
class MonthSpend:
    month: str
    currency: str
    spent: Decimal
    refunded: Decimal
    net: Decimal
    count: int


@dataclass(frozen=True)
class Overview:
    caller: Caller
    wallets: list[dict[str, Any]]
    wallets_total: int
    budgets: list[dict[str, Any]]
    spend: list[MonthSpend]
    recent: list[dict[str, Any]]

    @property
    def scope(self) -> str:
        if self.caller.role is Role.MANAGER:
            return "your team and you"
        return "your company"


def months_back(today: date, count: int) -> list[str]:
    """The `count` months up to today's, oldest first, as YYYY-MM."""
    year, month = today.year, today.month
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _by_month(rows: list[SpendRow], months: list[str]) -> list[MonthSpend]:
    """One line per month and currency; months with no spending show zeros (in the currencies
    seen, USD when none)."""
    currencies = sorted({r.currency.value for r in rows}) or ["USD"]
    found = {(r.key, r.currency.value): r for r in rows}
    zero = Decimal("0.00")
    out = []
    for month in months:
        for currency in currencies:
            r = found.get((month, currency))
            out.append(
                MonthSpend(month, currency, r.spent, r.refunded, r.net, r.count)
                if r
                else MonthSpend(month, currency, zero, zero, zero, 0)
            )
    return out


async def overview(db: Database, caller: Caller) -> Overview:
    """The dashboard of a MANAGER (their team and themselves) or an ADMIN (their company)."""
    try:
        require_role(caller, Role.MANAGER, Role.ADMIN)
    except Forbidden:
        raise Forbidden(
            f"the dashboard is for managers and admins; this token's role is {caller.role}"
        ) from None
    today = datetime.now(UTC).date()
    months = months_back(today, MONTHS)
    listed = await wallets.list_wallets(db, caller, page=1, limit=WALLETS_SHOWN, status=None)
    budget_report = await reports.budget_report(
        db, caller, company_id=None, status=BudgetStatus.ACTIVE
    )
    spend = await reports.spend_report(
        db,
        caller,
        company_id=None,
        first=date.fromisoformat(months[0] + "-01"),
        last=None,
        group_by=GroupBy.MONTH,
    )
    recent = await reports.recent_entries(db, caller, company_id=None, limit=RECENT)
    return Overview(
        caller=caller,
        wallets=listed["wallets"],
        wallets_total=listed["pagination"]["total"],
        budgets=budget_report["budgets"],
        spend=_by_month(spend.rows, months),
        recent=recent,
    )
