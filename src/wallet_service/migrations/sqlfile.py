"""Runs a plain .sql migration file verbatim (no placeholder parsing), so the SQL stays readable
and can be tried by hand with psql."""

from importlib.resources import files

from alembic import op


def run_sql_file(name: str) -> None:
    """Execute migrations/sql/<name> on the migration's connection, inside its transaction."""
    sql = files("wallet_service.migrations").joinpath("sql", name).read_text(encoding="utf-8")
    driver_connection = op.get_bind().connection.dbapi_connection
    assert driver_connection is not None
    cursor = driver_connection.cursor()
    try:
        cursor.execute(sql)  # no parameters: psycopg sends the text as it is
    finally:
        cursor.close()
