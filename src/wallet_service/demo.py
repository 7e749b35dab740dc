"""`wallet-service demo`: a company to look at. A manager, their team and two colleagues outside
it, funded wallets, monthly budgets, and a few weeks of bookings and cancellations, all applied
through the same services and event handlers as the API and the broker.

The one thing the API never does: the demo dates its entries over the past weeks (the ledger
stamps "now"), in the order they were applied, so balances, statements and the monthly chart look
like a real history. Budgets are opened before this month's first booking, so what counts against
them is exactly this month's spending."""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID

from wallet_service.auth.caller import Caller, Role
from wallet_service.budgets import service as budgets
from wallet_service.budgets.schemas import CreateBudget, Enforcement
from wallet_service.db.pool import Database
from wallet_service.events import handlers
from wallet_service.events.schemas import IncomingEvent
from wallet_service.ledger import service as postings
from wallet_service.ledger.engine import Ledger
from wallet_service.ledger.schemas import CreateTransaction, PostingType
from wallet_service.reports.rules import month_of

DESTINATIONS = ("Berlin", "Lisbon", "New York", "Singapore", "Pune", "London", "Austin", "Oslo")
KINDS = (("Flight", 180, 900), ("Hotel", 90, 420), ("Train", 25, 160), ("Car rental", 40, 220))


class Progress:
    """A one-line progress bar on a terminal (plain lines elsewhere, e.g. in CI logs)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30):
        self.total, self.out, self.width, self.done = max(total, 1), out, width, 0
        self.tty = out.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        filled = self.width * self.done // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} {label}"
        if self.tty:
            self.out.write("\r" + line[:100].ljust(100))
        elif self.done == self.total or self.done % max(self.total // 10, 1) == 0:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


@dataclass(frozen=True)
class Person:
    user_id: UUID
    role: str
    wallet_id: UUID
    in_team: bool


@dataclass
class Demo:
    company_id: UUID
    admin: UUID
    manager: UUID
    people: list[Person] = field(default_factory=list)
    bookings: int = 0
    refunds: int = 0
    refused: int = 0


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str  # "booking" or "cancel"
    person: Person
    booking_id: str
    amount: Decimal
    description: str


async def _event(ledger: Ledger, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    result = await handlers.apply(
        ledger, IncomingEvent(event_id=uuid.uuid4(), event_type=event_type, data=data)
    )
    return result.result or {}


async def _date(db: Database, txn_id: str, at: datetime) -> None:
    """Date an entry the demo just applied at its simulated instant (see the module's note)."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE transactions SET created_at = $2, updated_at = $2 WHERE txn_id = $1",
            UUID(txn_id),
            at,
        )


def _plan(people: list[Person], start: datetime, now: datetime, rng: random.Random) -> list[Step]:
    """Bookings on working days (about two a week each), a sixth of them cancelled a few days
    later with a full or partial refund; everything before `now`, in time order."""
    steps: list[Step] = []
    day = start
    while day < now:
        for person in people:
            if day.weekday() < 5 and rng.random() < 0.4:
                kind, low, high = rng.choice(KINDS)
                at = day + timedelta(hours=rng.randint(7, 19), minutes=rng.randint(0, 59))
                if at >= now:
                    continue
                booking_id = f"DEMO-{uuid.uuid4().hex[:10].upper()}"
                amount = Decimal(rng.randint(low * 100, high * 100)) / 100
                text = f"{kind}, {rng.choice(DESTINATIONS)}"
                steps.append(Step(at, "booking", person, booking_id, amount, text))
                cancel_at = at + timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 8))
                if rng.random() < 1 / 6 and cancel_at < now:
                    refund = (
                        amount if rng.random() < 0.5 else (amount / 2).quantize(Decimal("0.01"))
                    )
                    steps.append(Step(cancel_at, "cancel", person, booking_id, refund, text))
        day += timedelta(days=1)
    return sorted(steps, key=lambda s: s.at)


async def seed(
    db: Database,
    *,
    weeks: int = 6,
    team_size: int = 6,
    rng: random.Random | None = None,
    now: datetime | None = None,
    progress: Callable[[int], Progress] = Progress,
) -> Demo:
    """Create the demo company and its history; returns who is who."""
    rng = rng or random.Random()  # noqa: S311 - demo data, not secrets
    ledger = Ledger(db)
    now = now or datetime.now(UTC)
    company_id = uuid.uuid4()
    demo = Demo(company_id, admin=uuid.uuid4(), manager=uuid.uuid4())
    start = datetime.combine((now - timedelta(weeks=weeks)).date(), time.min, tzinfo=UTC)
    members: list[tuple[str, UUID, UUID | None]] = [
        ("ADMIN", demo.admin, None),
        ("MANAGER", demo.manager, None),
    ]
    members += [("USER", uuid.uuid4(), demo.manager) for _ in range(team_size)]
    members += [("USER", uuid.uuid4(), None) for _ in range(2)]
    for role, user_id, manager in members:
        wallet = await _event(
            ledger,
            "UserCreated",
            {
                "user_id": str(user_id),
                "email": f"demo-{user_id.hex[:8]}@example.com",
                "company_id": str(company_id),
                "role": role,
                "manager_id": str(manager) if manager else None,
            },
        )
        if role != "ADMIN":
            demo.people.append(
                Person(user_id, role, UUID(wallet["wallet_id"]), manager is not None)
            )
    system = Caller(sub=uuid.uuid4(), role=Role.SYSTEM, company_id=None)
    admin = Caller(sub=demo.admin, role=Role.ADMIN, company_id=company_id)
    for person in demo.people:
        funded = await postings.post_transaction(
            ledger,
            system,
            person.wallet_id,
            CreateTransaction(
                amount=Decimal(rng.choice((3000, 4000, 5000))),
                type=PostingType.CREDIT,
                description="Travel allowance",
                reference_type="ALLOWANCE",
            ),
            None,
        )
        await _date(db, funded["body"]["txn_id"], start)

    steps = _plan(demo.people, start + timedelta(hours=1), now, rng)
    this_month = month_of(now.date())
    budgets_open = False
    bar = progress(len(steps) + len(demo.people))
    for step in steps:
        if not budgets_open and step.at >= this_month.start:
            await _open_budgets(db, admin, demo, rng, this_month.first, bar)
            budgets_open = True
        if step.kind == "booking":
            txn = await _event(
                ledger,
                "BookingCreated",
                {
                    "booking_id": step.booking_id,
                    "user_id": str(step.person.user_id),
                    "amount": str(step.amount),
                    "currency": "USD",
                    "description": step.description,
                },
            )
            demo.bookings += 1
            demo.refused += txn.get("status") == "FAILED"
        else:
            txn = await _event(
                ledger,
                "BookingCancelled",
                {
                    "booking_id": step.booking_id,
                    "user_id": str(step.person.user_id),
                    "refund_amount": str(step.amount),
                },
            )
            demo.refunds += bool(txn)
        if txn:
            await _date(db, txn["txn_id"], step.at)
        bar.step(f"{step.at:%Y-%m-%d} {step.kind}")
    if not budgets_open:
        await _open_budgets(db, admin, demo, rng, this_month.first, bar)
    bar.close()
    return demo


async def _open_budgets(
    db: Database,
    admin: Caller,
    demo: Demo,
    rng: random.Random,
    first_day: Any,
    bar: Progress,
) -> None:
    """This month's budget for every wallet: mostly HARD, some SOFT, alerts at 80 and 100 %."""
    for person in demo.people:
        await budgets.create_budget(
            db,
            admin,
            CreateBudget(
                wallet_id=person.wallet_id,
                total_amount=Decimal(rng.choice((1200, 1500, 2000, 2500))),
                start_date=first_day,
                enforcement=Enforcement.SOFT if rng.random() < 0.3 else Enforcement.HARD,
            ),
            None,
        )
        bar.step("budget")
