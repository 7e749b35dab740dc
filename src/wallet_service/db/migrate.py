"""Brings a database to the newest schema: the versioned revisions (Alembic, plain SQL files in
migrations/sql/), then the functions, triggers and views of sql/ (db/sqlobjects.py)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import psycopg
from alembic import command
from alembic.config import Config

from wallet_service.db.sqlobjects import SqlFile, apply_sql_objects

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


def migrate(dsn: str) -> None:
    """Bring the database to the newest schema. Safe to run from several processes at once."""
    command.upgrade(alembic_config(dsn), "head")
    apply_sql_files(dsn)


def apply_sql_files(dsn: str, sources: Sequence[SqlFile] | None = None) -> bool:
    """Apply the SQL objects (default: the shipped sql/ files) in one transaction under the
    migration lock, unless they are applied already. Returns whether anything was applied."""
    with psycopg.connect(dsn) as conn:  # commits on leaving, rolls back on an exception
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        return apply_sql_objects(conn, sources)
