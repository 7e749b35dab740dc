"""Statements and reports: the indexes they read."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    run_sql_file("0008_reports.sql")
