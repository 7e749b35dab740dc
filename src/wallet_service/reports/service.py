"""Statements, point-in-time balances, the spend report and the budget report: who may read
what, and the figures. Reads only; money is never moved here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from wallet_service.auth.caller import Caller
from wallet_service.auth.scope import company_scope, ensure_can_read
from wallet_service.budgets.schemas import BudgetStatus
from wallet_service.db.pool import Database
from wallet_service.errors import WalletNotFound
from wallet_service.money import Currency, format_amount
from wallet_service.reports import repository, rules
from wallet_service.reports.repository import WalletInfo
from wallet_service.reports.schemas import (
    BalanceAsOf,
    GroupBy,
    SpendFigures,
    SpendReport,
    SpendRow,
)


def _today() -> date:
    return datetime.now(UTC).date()


async def _readable_wallet(db: Database, caller: Caller, wallet_id: UUID) -> WalletInfo:
    not_found = WalletNotFound(f"no wallet {wallet_id}")
    async with db.connection() as conn:
        info = await repository.wallet(conn, wallet_id)
    if info is None:
        raise not_found
    ensure_can_read(caller, info.owner, not_found)
    return info


async def balance_as_of(
    db: Database, caller: Caller, wallet_id: UUID, as_of: datetime | date | None
) -> BalanceAsOf:
    """GET /wallets/{walletId}/balance: the balance right after the last COMPLETED entry at or
    before `as_of` (a date: the end of that day; none: now)."""
    info = await _readable_wallet(db, caller, wallet_id)
    before = rules.end_of_instant(as_of if as_of is not None else datetime.now(UTC))
    async with db.connection() as conn:
        balance = await repository.balance_before(conn, wallet_id, before)
    return BalanceAsOf(
        wallet_id=wallet_id,
        currency=Currency(info.currency),
        as_of=rules.last_instant(before),
        balance=balance,
    )


@dataclass(frozen=True)
class StatementHead:
    """Everything of a statement but its entries."""

    wallet_id: UUID
    user_id: UUID
    currency: str
    days: rules.DayRange
    opening_balance: Decimal
    closing_balance: Decimal
    total_credits: Decimal
    total_debits: Decimal
    count: int

    def fields(self) -> dict[str, Any]:
        """The statement's fields before `entries`, in the documented order, as JSON values."""
        return {
            "wallet_id": str(self.wallet_id),
            "user_id": str(self.user_id),
            "currency": self.currency,
            "from": self.days.first.isoformat(),
            "to": self.days.last.isoformat(),
            "opening_balance": format_amount(self.opening_balance),
            "closing_balance": format_amount(self.closing_balance),
            "total_credits": format_amount(self.total_credits),
            "total_debits": format_amount(self.total_debits),
            "count": self.count,
        }


@dataclass(frozen=True)
class StatementRequest:
    """A statement the caller may read; `read()` produces it."""

    db: Database
    wallet: WalletInfo
    days: rules.DayRange

    async def read(self) -> AsyncIterator[StatementHead | dict[str, Any]]:
        """The head, then every entry, oldest first, all from one snapshot (REPEATABLE READ), so
        the balances and totals always match the entries even while postings go on. The
        connection is taken when reading starts and given back when it ends or is abandoned."""
        w, days = self.wallet, self.days
        async with self.db.snapshot() as conn:
            credits, debits, count = await repository.movements(
                conn, w.wallet_id, days.start, days.end_before
            )
            yield StatementHead(
                wallet_id=w.wallet_id,
                user_id=w.owner.user_id,
                currency=w.currency,
                days=days,
                opening_balance=await repository.balance_before(conn, w.wallet_id, days.start),
                closing_balance=await repository.balance_before(conn, w.wallet_id, days.end_before),
                total_credits=credits,
                total_debits=debits,
                count=count,
            )
            async for entry in repository.entries(conn, w.wallet_id, days.start, days.end_before):
                yield entry


async def statement(
    db: Database, caller: Caller, wallet_id: UUID, first: date | None, last: date | None
) -> StatementRequest:
    """GET /wallets/{walletId}/statement: checks scope and dates now (so errors are answered
    before anything is streamed); the statement itself is read while it is sent."""
    days = rules.day_range(first, last, _today())
    return StatementRequest(db, await _readable_wallet(db, caller, wallet_id), days)


async def spend_report(
    db: Database,
    caller: Caller,
    *,
    company_id: UUID | None,
    first: date | None,
    last: date | None,
    group_by: GroupBy,
) -> SpendReport:
    """GET /reports/spend: MANAGER (team and self), ADMIN (company), SYSTEM (names the company)."""
    scope = company_scope(caller, company_id)
    days = rules.day_range(first, last, _today())
    async with db.connection() as conn:
        wallets = await repository.team_wallets(conn, scope)
        found = (
            []
            if wallets == []
            else await repository.spend(
                conn, scope, wallets, group_by.value, days.start, days.end_before
            )
        )
    keyed = (
        rules.refunded_category(r["key"]) if group_by is GroupBy.REFERENCE_TYPE else r["key"]
        for r in found
    )
    rows = rules.merge(
        ((key, r["currency"]), rules.Figures(r["spent"], r["refunded"], int(r["n"])))
        for key, r in zip(keyed, found, strict=True)
    )
    return SpendReport.model_validate(
        {
            "from": days.first,
            "to": days.last,
            "group_by": group_by,
            "rows": [SpendRow(key=key, **_figures(c, f)) for (key, c), f in rows.items()],
            "totals": [SpendFigures(**_figures(c, f)) for c, f in rules.totals(rows).items()],
        }
    )


def _figures(currency: str, f: rules.Figures) -> dict[str, Any]:
    return {
        "currency": currency,
        "spent": f.spent,
        "refunded": f.refunded,
        "net": f.net,
        "count": f.count,
    }


async def budget_report(
    db: Database, caller: Caller, *, company_id: UUID | None, status: BudgetStatus
) -> dict[str, Any]:
    """GET /reports/budgets: the budgets in scope with their utilisation, most used first."""
    scope = company_scope(caller, company_id)
    async with db.connection() as conn:
        return {"budgets": await repository.budgets(conn, scope, status.value)}


async def recent_entries(
    db: Database, caller: Caller, *, company_id: UUID | None, limit: int
) -> list[dict[str, Any]]:
    """The most recently posted entries in the caller's company scope, newest first."""
    scope = company_scope(caller, company_id)
    async with db.connection() as conn:
        wallets = await repository.team_wallets(conn, scope)
        if wallets == []:
            return []
        return await repository.recent_entries(conn, scope, wallets, limit)
