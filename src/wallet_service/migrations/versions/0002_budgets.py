"""Budgets: API-side schema additions (issue 3)."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    run_sql_file("0002_budgets.sql")
