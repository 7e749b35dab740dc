"""Background jobs that run inside `serve`: each is a coroutine `run(db, now) -> int` (how many
rows it handled) called every `interval_s` seconds. Jobs must be safe with several service
instances running at once (each row is claimed by one winner, e.g. FOR UPDATE SKIP LOCKED), and
take the clock as an argument so tests drive them with an injected time instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from wallet_service import idempotency
from wallet_service.budgets.lifecycle import roll_budgets
from wallet_service.db.pool import Database
from wallet_service.events import inbox, outbox
from wallet_service.ledger.holds import expire_holds

log = logging.getLogger(__name__)

JobFn = Callable[[Database, datetime], Awaitable[int]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_s: float
    run: JobFn
    #: log how many rows each run handled (off for frequent jobs, whose counts are noise)
    report: bool = True


async def purge_idempotency_keys(db: Database, now: datetime) -> int:
    """Forget Idempotency-Keys older than the retention period (24 hours)."""
    async with db.connection() as conn:
        return await idempotency.purge_expired(conn, now)


async def purge_processed_events(db: Database, now: datetime) -> int:
    """Forget consumed event ids older than their retention period (30 days)."""
    async with db.connection() as conn:
        return await inbox.purge_processed(conn, now)


async def sequence_events(db: Database, now: datetime) -> int:
    """Give committed outbox rows their place in the event feed (readers do it too, on demand)."""
    async with db.connection() as conn:
        return await outbox.sequence_all(conn)


def registry() -> list[PeriodicJob]:
    """Every periodic job of the service. Add a job here, once."""
    return [
        PeriodicJob("purge-idempotency-keys", 3600, purge_idempotency_keys),
        PeriodicJob("roll-budgets", 60, roll_budgets),
        PeriodicJob("purge-processed-events", 3600, purge_processed_events),
        PeriodicJob("expire-holds", 60, expire_holds),
        PeriodicJob("sequence-events", 1, sequence_events, report=False),
    ]


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _loop(db: Database, job: PeriodicJob) -> None:
    while True:
        try:
            handled = await job.run(db, utcnow())
            if handled and job.report:
                log.info("job %s handled %d rows", job.name, handled)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failing run is logged and retried on the next tick
            log.exception("job %s failed", job.name)
        await asyncio.sleep(job.interval_s)


def start(db: Database, jobs: list[PeriodicJob]) -> list[asyncio.Task[None]]:
    """Start every job as a task; cancel the tasks to stop them."""
    return [asyncio.create_task(_loop(db, job), name=f"job:{job.name}") for job in jobs]
