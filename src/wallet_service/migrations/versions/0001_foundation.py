"""Foundation: users, wallets, ledger, budgets, idempotency keys, outbox, company defaults."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0001"
down_revision = None


def upgrade() -> None:
    run_sql_file("0001_foundation.sql")
