"""Event-driven integration: inbox, booking charges, relay leases."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    run_sql_file("0004_messaging.sql")
