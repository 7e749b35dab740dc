"""The console script: `wallet-service token` prints a token the service accepts."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from wallet_service.auth.caller import Role
from wallet_service.auth.tokens import TokenVerifier
from wallet_service.config import Settings


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
