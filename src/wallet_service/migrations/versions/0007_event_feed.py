"""The event feed's order: feed_pos, given to committed outbox rows by one sequencer."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    run_sql_file("0007_event_feed.sql")
