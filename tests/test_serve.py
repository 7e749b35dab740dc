"""The README's first command works on a fresh machine: `wallet-service serve` with nothing
configured starts the embedded PostgreSQL, applies the migrations, generates a dev secret, and
serves requests signed by `wallet-service token`."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import answers, free_port, wait_for


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_the_embedded_default(tmp_path: Path, workers: int) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "JWT_SECRET", "JWT_PUBLIC_KEY", "AMQP_URL")
    }
    port = free_port()
    env.update(WALLET_DATA_DIR=str(tmp_path / "data"), PORT=str(port), HOST="127.0.0.1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wallet_service", "serve", "--workers", str(workers)],
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
