"""Statements and reports (issue 12): the indexes they read."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    run_sql_file("0007_reports.sql")
