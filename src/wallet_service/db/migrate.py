"""Brings a database to the newest schema: the versioned revisions (Alembic, plain SQL files in
migrations/sql/), then the functions, triggers and views of sql/ (db/sqlobjects.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from importlib.resources import files
from urllib.parse import parse_qsl, urlencode

import psycopg
from alembic import command
from alembic.config import Config
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from wallet_service.db.sqlobjects import SqlFile, apply_sql_objects

log = logging.getLogger(__name__)

#: Seconds a migration run waits for a connection (libpq's connect_timeout), so that an address
#: that does not answer at all fails an attempt instead of hanging it.
CONNECT_TIMEOUT_S = 10

# Arbitrary and constant: serialises concurrent `migrate` runs (taken by migrations/env.py for the
# revisions, and here for the SQL objects).
MIGRATION_LOCK_ID = 0x57A11E7


def sqlalchemy_url(dsn: str) -> str:
    """The same DSN for SQLAlchemy with the psycopg 3 driver (used only by migrations)."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    return f"postgresql+psycopg://{rest}"


def alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("wallet_service.migrations")))
    # ConfigParser interpolation: a literal % in a password must be doubled
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    return config


def with_connect_timeout(dsn: str) -> str:
    """The DSN with libpq's connect_timeout set (unless it sets one)."""
    base, _, query = dsn.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    if not any(k == "connect_timeout" for k, _ in params):
        params.append(("connect_timeout", str(CONNECT_TIMEOUT_S)))
    return f"{base}?{urlencode(params)}"


def migrate(dsn: str) -> None:
    """Bring the database to the newest schema. Safe to run from several processes at once."""
    dsn = with_connect_timeout(dsn)
    command.upgrade(alembic_config(dsn), "head")
    apply_sql_files(dsn)


class BackgroundMigration:
    """Runs migrate() for a process that must start whether or not the database answers (`serve`):
    at once, then, while it fails (the database is down, not created yet, refuses the
    credentials...), again with exponential backoff up to every 2 seconds, logging each failure,
    until it succeeds. `first_attempt` is set once the first try has ended, `done` once the schema
    is current."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.first_attempt = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self) -> None:
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=2), before_sleep=self._log_failure
        ):
            with attempt:
                try:
                    await asyncio.to_thread(migrate, self.dsn)
                    self.done.set()
                finally:
                    self.first_attempt.set()
        log.info("database schema is up to date")

    @staticmethod
    def _log_failure(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        reason = f"{type(exc).__name__}: {str(exc).strip()}" if exc else "unknown"
        log.warning("cannot migrate the database yet (%s); retrying in %.1f s", reason, wait)


def apply_sql_files(dsn: str, sources: Sequence[SqlFile] | None = None) -> bool:
    """Apply the SQL objects (default: the shipped sql/ files) in one transaction under the
    migration lock, unless they are applied already. Returns whether anything was applied."""
    with psycopg.connect(dsn) as conn:  # commits on leaving, rolls back on an exception
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        return apply_sql_objects(conn, sources)
