"""Caller context on ledger entries: actor and request id."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    run_sql_file("0006_caller_context.sql")
