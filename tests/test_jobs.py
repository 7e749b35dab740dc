"""Retention jobs, driven with an injected clock: idempotency keys are kept at least 24 hours and
consumed event ids 30 days, then forgotten."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg

from wallet_service import jobs
from wallet_service.db.pool import Database

T = TypeVar("T")
RunDb = Callable[[Callable[[Database], Awaitable[T]]], T]


def test_idempotency_keys_are_kept_24_hours(
    sql: psycopg.Connection[Any], run_db: RunDb[int]
) -> None:
    key = f"job-test-{uuid.uuid4()}"
    sql.execute(
        "INSERT INTO idempotency_keys (caller, key, request_hash, created_at)"
        " VALUES ('t', %s, 'h', %s)",
        (key, datetime(2026, 1, 1, 12, tzinfo=UTC)),
    )
    almost = datetime(2026, 1, 2, 11, 59, tzinfo=UTC)
    run_db(lambda db: jobs.purge_idempotency_keys(db, almost))
    assert sql.execute(
        "SELECT count(*) FROM idempotency_keys WHERE key = %s", (key,)
    ).fetchone() == (1,)
    run_db(lambda db: jobs.purge_idempotency_keys(db, almost + timedelta(minutes=2)))
    assert sql.execute(
        "SELECT count(*) FROM idempotency_keys WHERE key = %s", (key,)
    ).fetchone() == (0,)


def test_processed_events_are_kept_30_days(
    sql: psycopg.Connection[Any], run_db: RunDb[int]
) -> None:
    event_id = uuid.uuid4()
    sql.execute(
        "INSERT INTO processed_events (event_id, event_type, processed_at)"
        " VALUES (%s, 'UserCreated', %s)",
        (event_id, datetime(2026, 1, 1, tzinfo=UTC)),
    )
    run_db(lambda db: jobs.purge_processed_events(db, datetime(2026, 1, 30, tzinfo=UTC)))
    assert sql.execute(
        "SELECT count(*) FROM processed_events WHERE event_id = %s", (event_id,)
    ).fetchone() == (1,)
    run_db(lambda db: jobs.purge_processed_events(db, datetime(2026, 2, 1, tzinfo=UTC)))
    assert sql.execute(
        "SELECT count(*) FROM processed_events WHERE event_id = %s", (event_id,)
    ).fetchone() == (0,)


def test_every_job_is_registered_once() -> None:
    names = [job.name for job in jobs.registry()]
    assert len(names) == len(set(names))
    assert {"purge-idempotency-keys", "purge-processed-events", "roll-budgets"} <= set(names)
