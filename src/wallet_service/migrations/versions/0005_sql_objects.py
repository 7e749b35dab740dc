"""The table that remembers which version of the SQL objects (sql/*.sql) a database has."""

from wallet_service.migrations.sqlfile import run_sql_file

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    run_sql_file("0005_sql_objects.sql")
