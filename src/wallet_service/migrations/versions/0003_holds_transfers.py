"""Transfers and holds: hold reservations, the hold amount constraint."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    run_sql_file("0003_holds_transfers.sql")
