"""Statements and reports (issue 12): when an entry's money moved, and the indexes reports read."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    run_sql_file("0005_reports.sql")
