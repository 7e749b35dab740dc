"""Alembic environment: runs the versioned SQL migrations under a PostgreSQL advisory lock, so
several service instances starting at once apply each migration exactly once."""

from alembic import context
from sqlalchemy import create_engine, text

from wallet_service.db.migrate import MIGRATION_LOCK_ID

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set by wallet_service.db.migrate"

engine = create_engine(url)
with engine.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()
    try:
        context.configure(
            connection=connection, target_metadata=None, transaction_per_migration=True
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
engine.dispose()
