"""Fixtures: a real PostgreSQL database built by the real migrations, and the real service
listening on a local port. DATABASE_URL names a server to use (a fresh database is created on it
and dropped afterwards); without it the embedded PostgreSQL is started, as `serve` would.
WALLET_TEST_DATABASE_URL names a database that is already migrated: the tests run on it as it is
and leave it in place (the upgrade test runs the core modules on an upgraded database this way)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from tests.support import TEST_SECRET, Company, serve_in_thread, with_database
from wallet_service.app import create_app
from wallet_service.config import Settings
from wallet_service.db.migrate import migrate
from wallet_service.db.pool import Database

T = TypeVar("T")


def _server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from wallet_service.db.embedded import start_embedded

    data_dir = Path(tempfile.gettempdir()) / "wallet-service-test-pg"
    return start_embedded(data_dir)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database, migrated, for this test session (dropped at the end)."""
    given = os.environ.get("WALLET_TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = _server_url()
    name = f"wallet_test_{uuid.uuid4().hex[:12]}"
    admin_url = with_database(server, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    migrate(url)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, jwt_secret=TEST_SECRET, db_pool_size=20, run_jobs=False
    )


@pytest.fixture(scope="session")
def base_url(settings: Settings) -> Iterator[str]:
    """The real app, served once for the whole session."""
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture
def company(base_url: str, database_url: str) -> Company:
    """A fresh tenant with SYSTEM and ADMIN clients; make users with company.member(...)."""
    return Company(base_url, database_url=database_url)


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct autocommit connection, for asserting what is stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def run_db(database_url: str) -> Callable[[Callable[[Database], Awaitable[T]]], T]:
    """Run `fn(db)` against a fresh Database handle on its own event loop (for service-level
    tests such as background jobs driven with an injected clock)."""

    def runner(fn: Callable[[Database], Awaitable[T]]) -> T:
        async def go() -> T:
            db = await Database.connect(database_url, max_size=5)
            try:
                return await fn(db)
            finally:
                await db.close()

        return asyncio.run(go())

    return runner
