"""Settings, read once from the environment (see the README's table of variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wallet_service.ledger.group_commit import GroupCommitSettings


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _flag(name: str, *, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment."""

    host: str = "0.0.0.0"  # noqa: S104 - a service listens on all interfaces by default
    port: int = 3003
    database_url: str | None = None
    data_dir: Path = Path(".wallet-data")
    db_pool_size: int = 20
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    amqp_url: str | None = None
    redis_url: str | None = None
    user_service_url: str | None = None
    rate_limit: str = "off"
    workers: int = 1
    log_level: str = "info"
    #: run the periodic background jobs (see jobs.py) inside this process
    run_jobs: bool = True
    #: gather concurrent single postings into one engine call (see ledger/group_commit.py)
    group_commit: bool = True
    group_commit_window_ms: float = 1.0
    group_commit_max: int = 256
    #: request limits (see server.py): body bytes, request line + header bytes, and seconds a
    #: client has to send a request's head, and then its body
    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 32 * 1024
    read_timeout_s: float = 30.0

    def group_commit_settings(self) -> GroupCommitSettings:
        return GroupCommitSettings(
            enabled=self.group_commit,
            window_s=self.group_commit_window_ms / 1000,
            max_group=self.group_commit_max,
            # groups in flight each hold a connection; leave most of the pool to reads
            lanes=max(1, min(4, self.db_pool_size // 4)),
        )

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            host=env("HOST") or cls.host,
            port=_int("PORT", cls.port),
            database_url=env("DATABASE_URL") or None,
            data_dir=Path(env("WALLET_DATA_DIR") or cls.data_dir),
            db_pool_size=_int("DB_POOL_SIZE", cls.db_pool_size),
            jwt_secret=env("JWT_SECRET") or None,
            jwt_public_key=env("JWT_PUBLIC_KEY") or None,
            amqp_url=env("AMQP_URL") or None,
            redis_url=env("REDIS_URL") or None,
            user_service_url=env("USER_SERVICE_URL") or None,
            rate_limit=env("RATE_LIMIT") or cls.rate_limit,
            workers=_int("WEB_CONCURRENCY", cls.workers),
            log_level=env("LOG_LEVEL") or cls.log_level,
            run_jobs=_flag("RUN_JOBS", default=True),
            group_commit=_flag("GROUP_COMMIT", default=True),
            group_commit_window_ms=_float("GROUP_COMMIT_WINDOW_MS", cls.group_commit_window_ms),
            group_commit_max=_int("GROUP_COMMIT_MAX", cls.group_commit_max),
            max_body_bytes=_int("MAX_BODY_BYTES", cls.max_body_bytes),
            max_header_bytes=_int("MAX_HEADER_BYTES", cls.max_header_bytes),
            read_timeout_s=_float("READ_TIMEOUT", cls.read_timeout_s),
        )
