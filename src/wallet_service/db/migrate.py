"""Applies the versioned schema migrations (Alembic, plain SQL files) to a database."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config


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
