"""The console script: `wallet-service token` prints a token the service accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory

from tests.support import with_database
from wallet_service.auth.caller import Role
from wallet_service.auth.tokens import TokenVerifier
from wallet_service.config import Settings
from wallet_service.db.migrate import alembic_config
from wallet_service.db.sqlobjects import digest, manifest_files


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallet_service", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_token_command_prints_a_verifiable_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "JWT_PUBLIC_KEY")}
    env["WALLET_DATA_DIR"] = str(tmp_path)
    company = uuid.uuid4()
    done = _cli("token", "--role", "ADMIN", "--company", str(company), env=env)
    assert done.returncode == 0, done.stderr
    caller = TokenVerifier.from_settings(Settings(data_dir=tmp_path)).verify(done.stdout.strip())
    assert caller.role is Role.ADMIN
    assert caller.company_id == company


def test_token_command_requires_a_company_for_non_system_roles(tmp_path: Path) -> None:
    env = dict(os.environ, WALLET_DATA_DIR=str(tmp_path))
    done = _cli("token", "--role", "USER", env=env)
    assert done.returncode != 0
    assert "--company" in done.stderr


def test_migrate_from_several_processes_at_once(database_url: str) -> None:
    """`wallet-service migrate` brings a fresh database to the newest schema; instances starting
    together serialise on an advisory lock, so each migration and the SQL objects are applied
    exactly once."""
    import psycopg

    name = f"wallet_migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(with_database(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        env = dict(os.environ, DATABASE_URL=with_database(database_url, name))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "wallet_service", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        with psycopg.connect(with_database(database_url, name)) as conn:
            head = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            functions = conn.execute(
                "SELECT count(*) FROM pg_proc WHERE proname = 'ledger_apply'"
            ).fetchone()
            applied = conn.execute("SELECT digest FROM sql_objects").fetchall()
        assert head == [
            (ScriptDirectory.from_config(alembic_config(database_url)).get_current_head(),)
        ]
        assert functions == (1,)
        assert applied == [(digest(manifest_files()),)]
    finally:
        with psycopg.connect(with_database(database_url, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
