"""The README's first command works on a fresh machine: `wallet-service serve` with nothing
configured starts the embedded PostgreSQL, applies the migrations, generates a dev secret, and
serves requests signed by `wallet-service token`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from tests.support import TEST_SECRET, answers, free_port, token, wait_for, with_database


def test_serve_with_the_embedded_default(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "JWT_SECRET", "JWT_PUBLIC_KEY", "AMQP_URL")
    }
    port = free_port()
    env.update(WALLET_DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wallet_service", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: proc.poll() is not None or answers(f"{base}/ready"), timeout=90, every=0.2)
        assert proc.poll() is None, "serve exited early"
        company = uuid.uuid4()
        minted = subprocess.run(
            [sys.executable, "-m", "wallet_service", "token", "--role", "SYSTEM"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        system = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        user = uuid.uuid4()
        r = httpx.post(
            f"{base}/events",
            headers=system,
            json={
                "event_type": "UserCreated",
                "data": {"user_id": str(user), "company_id": str(company)},
            },
        )
        assert r.status_code == 200, r.text
        assert httpx.get(f"{base}/wallets/{user}", headers=system).json()["balance"] == "0.00"
        assert (tmp_path / "data" / "pg" / "PG_VERSION").exists()
        assert (tmp_path / "data" / "jwt-dev-secret").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "Traceback" not in out, out
    assert proc.returncode == 0
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists(), (
        "embedded PostgreSQL left running"
    )


class UnixSocketProxy:
    """A TCP port on 127.0.0.1 forwarding every connection to a Unix socket (the embedded
    PostgreSQL listens on one): a database server that is down until the test starts it."""

    def __init__(self, port: int, socket_path: str):
        self.port = port
        self.socket_path = socket_path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(self.socket_path)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(timeout=10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def test_serve_starts_without_its_database_and_migrates_once_it_answers(
    database_url: str, tmp_path: Path
) -> None:
    """DATABASE_URL names a port nobody listens on, then a server without that database, then the
    database: `serve` answers /health throughout, /ready and requests are 503 naming the
    database until it can migrate, then it migrates by itself and serves."""
    with psycopg.connect(database_url) as conn:
        socket_path = f"{conn.info.host}/.s.PGSQL.{conn.info.port}"
    name = f"wallet_late_{uuid.uuid4().hex[:10]}"
    db_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AMQP_URL", "JWT_PUBLIC_KEY")}
    env.update(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{db_port}/{name}",
        JWT_SECRET=TEST_SECRET,
        PORT=str(port),
        HOST="127.0.0.1",
        WALLET_DATA_DIR=str(tmp_path),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "wallet_service", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    system = {"Authorization": f"Bearer {token('SYSTEM')}"}
    proxy = UnixSocketProxy(db_port, socket_path)
    admin = with_database(database_url, "postgres")

    def unavailable() -> None:
        ready = httpx.get(f"{base}/ready")
        assert ready.status_code == 503
        assert "database" in ready.json()["checks"]["database"]
        r = httpx.get(f"{base}/wallets/{uuid.uuid4()}", headers=system)
        assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"

    try:
        wait_for(lambda: proc.poll() is not None or answers(f"{base}/health"), timeout=60)
        assert proc.poll() is None, "serve exited although only its database is missing"
        unavailable()  # nobody listens on the port
        proxy.start()
        time.sleep(1)  # a retry meets a server without the database
        unavailable()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        wait_for(lambda: answers(f"{base}/ready"), timeout=30, every=0.2)
        r = httpx.get(f"{base}/wallets/{uuid.uuid4()}", headers=system)
        assert r.status_code == 404 and r.json()["code"] == "WALLET_NOT_FOUND"
        with psycopg.connect(with_database(database_url, name)) as conn:
            assert conn.execute("SELECT to_regclass('outbox')").fetchone() != (None,)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        proxy.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert "cannot migrate the database yet" in out, out
    assert "Traceback" not in out, out
