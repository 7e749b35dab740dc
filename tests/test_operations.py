"""Operations: the embedded PostgreSQL keeps data across restarts, the rate limit answers 429 with
Retry-After, /metrics speaks Prometheus, /ready reports a dead database as 503."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.support import Api, Company, serve_in_thread, token
from wallet_service.app import create_app
from wallet_service.config import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"

EMBEDDED_SCRIPT = """
import sys, psycopg
from pathlib import Path
from wallet_service.db.embedded import start_embedded
dsn = start_embedded(Path(sys.argv[1]))
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
    if sys.argv[2] != "-":
        conn.execute("INSERT INTO kept VALUES (%s)", (sys.argv[2],))
    print(",".join(r[0] for r in conn.execute("SELECT v FROM kept ORDER BY v")))
"""


def _embedded(data_dir: Path, value: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED_SCRIPT, str(data_dir), value],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_embedded_postgres_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "wallet-data"
    assert _embedded(data_dir, "first") == "first"
    # the first process exited and stopped its server; a new one starts it on the same files
    assert _embedded(data_dir, "-") == "first"
    assert (data_dir / "pg" / "PG_VERSION").exists()


def test_rate_limit_per_subject(settings: Settings) -> None:
    limited = Settings(**{**settings.__dict__, "rate_limit": "3/minute"})
    with serve_in_thread(create_app(limited)) as url:
        me = Api(url, token("ADMIN", company_id=uuid.uuid4()))
        codes = [me.get("/wallets").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = me.get("/wallets")
        assert r.json()["code"] == "RATE_LIMITED"
        assert int(r.headers["Retry-After"]) >= 1
        other = Api(url, token("ADMIN", company_id=uuid.uuid4()))
        assert other.get("/wallets").status_code == 200, "the limit is per subject"


def test_rate_limit_is_shared_through_redis(settings: Settings) -> None:
    """With REDIS_URL, every instance counts against the same limit (real Redis on this machine)."""
    shared = Settings(**{**settings.__dict__, "rate_limit": "4/minute", "redis_url": REDIS_URL})
    me = token("ADMIN", company_id=uuid.uuid4())
    with (
        serve_in_thread(create_app(shared)) as first,
        serve_in_thread(create_app(shared)) as second,
    ):
        assert httpx.get(f"{first}/ready").json()["checks"] == {"database": "ok", "cache": "ok"}
        codes = [Api(url, me).get("/wallets").status_code for url in (first, second) * 3]
        assert codes == [200, 200, 200, 200, 429, 429]


def test_unreachable_redis_is_503_not_a_lifted_limit(settings: Settings) -> None:
    dead = Settings(
        **{**settings.__dict__, "rate_limit": "4/minute", "redis_url": "redis://127.0.0.1:1"}
    )
    with serve_in_thread(create_app(dead)) as url:
        r = Api(url, token("ADMIN", company_id=uuid.uuid4())).get("/wallets")
        assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"
        assert httpx.get(f"{url}/ready").status_code == 503


def test_metrics_count_requests_by_route(company: Company) -> None:
    alice = company.member()
    company.system.get(f"/wallets/{alice.user_id}")
    text = httpx.get(f"{company.base_url}/metrics").text
    assert 'wallet_http_requests_total{method="GET",route="/wallets/{userId}",status="200"}' in text
    assert str(alice.user_id) not in text


def test_unreachable_database_is_503_and_reported_by_ready(settings: Settings) -> None:
    broken = Settings(
        **{**settings.__dict__, "database_url": "postgresql://postgres@127.0.0.1:1/x"}
    )
    with serve_in_thread(create_app(broken)) as url:
        assert httpx.get(f"{url}/health").status_code == 200
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"
        r = Api(url, token("SYSTEM")).get(f"/wallets/{uuid.uuid4()}")
        assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"
        assert "postgres@" not in r.text, "no connection details leak"
