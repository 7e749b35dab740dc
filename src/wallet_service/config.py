"""Settings, read once from the environment (see the README's table of variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


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
            run_jobs=(env("RUN_JOBS") or "true").lower() not in ("0", "false", "no"),
        )
