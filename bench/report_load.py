"""Benchmark: statements and reports over one month of a 1,000-person company whose ledger holds
more than a million entries.

    .venv/bin/python bench/report_load.py             # 1,000 people, 12 months, 1,020,000 entries
    .venv/bin/python bench/report_load.py --users 40 --months 2 --requests 5 --no-record  # smoke

It makes a fresh database (on DATABASE_URL's server, else the embedded PostgreSQL under
./.wallet-data/bench), applies the migrations, and seeds it with SQL in bulk (generate_series,
not the API): one company, an admin, --users people in teams of 20 under managers, and for each
wallet and each of the --months months before this one 85 entries (a monthly allowance, 75
bookings, 5 refunds, a transfer out and in, 2 captured holds) with consistent balance_after,
plus one MONTHLY budget per wallet and month (the last one ACTIVE). Then VACUUM ANALYZE (as
autovacuum would have done), a CHECKPOINT (so the load's writes are not measured), and
`wallet-service serve` (one worker). The load average before measuring is recorded: other
processes on the machine's two cores show up in the tail latencies.

It then sends --requests requests of each kind, one at a time over a keep-alive connection,
about last month (statements of a random wallet, balances at a random instant, the spend report
of the company and of a team in each grouping, the budget report of the company and of a team),
prints p50/p99 per kind and appends one JSON line to bench/results/report_load.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "report_load.jsonl"
SECRET = "bench-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
TEAM = 20
PER_MONTH = 85
TARGET_P99_MS = 200.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def server_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    sys.path.insert(0, str(ROOT / "src"))
    from wallet_service.db.embedded import start_embedded

    return start_embedded(ROOT / ".wallet-data" / "bench")


def with_db(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def fresh_database(server: str, name: str) -> str:
    with psycopg.connect(with_db(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_db(server, name)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(with_db(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def token(role: str, company: uuid.UUID | None, sub: uuid.UUID | None = None) -> str:
    claims: dict[str, object] = {
        "sub": str(sub or uuid.uuid4()),
        "role": role,
        "exp": int(time.time()) + 7200,
    }
    if company:
        claims["company_id"] = str(company)
    return jwt.encode(claims, SECRET, algorithm="HS256")


def first_of_month(day: date, back: int) -> date:
    """The first day of the month `back` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


SEED_SQL = """
-- people: an admin, then users 1..n; every TEAM-th user is a manager of the next TEAM-1
INSERT INTO users (user_id, company_id, role)
VALUES (%(admin)s, %(company)s, 'ADMIN');
INSERT INTO users (user_id, company_id, role, manager_id)
SELECT uuid_generate(%(company)s, i), %(company)s,
       CASE WHEN i %% %(team)s = 0 THEN 'MANAGER' ELSE 'USER' END,
       CASE WHEN i %% %(team)s = 0 THEN NULL ELSE uuid_generate(%(company)s, i - i %% %(team)s) END
FROM generate_series(0, %(users)s - 1) i;
INSERT INTO wallets (wallet_id, company_id, user_id)
SELECT uuid_generate(%(company)s, 100000000 + i), %(company)s, uuid_generate(%(company)s, i)
FROM generate_series(0, %(users)s - 1) i;

-- entries: per wallet and month, an allowance, 75 bookings, 5 refunds, a transfer out and in,
-- 2 captured holds (posted two hours after they were placed), dated through the month
INSERT INTO transactions (company_id, wallet_id, amount, type, description, reference_id,
                          reference_type, status, balance_after, hold_amount, created_at,
                          updated_at)
SELECT %(company)s, g.wallet_id, g.amount, g.type, NULL, g.reference_id, g.reference_type,
       'COMPLETED',
       sum(CASE WHEN g.type IN ('CREDIT', 'TRANSFER_IN') THEN g.amount ELSE -g.amount END)
           OVER (PARTITION BY g.wallet_id ORDER BY g.posted, g.k),
       g.hold_amount, g.created, g.created + CASE WHEN g.hold_amount IS NULL THEN interval '0'
                                                  ELSE interval '2 hours' END
FROM (
    SELECT e.*, e.created + CASE WHEN e.hold_amount IS NULL THEN interval '0'
                                 ELSE interval '2 hours' END AS posted
    FROM (
        SELECT uuid_generate(%(company)s, 100000000 + w) AS wallet_id,
               m * 1000 + k AS k,
               CASE WHEN k = 1 THEN 5000.00
                    WHEN k <= 76 THEN round((5 + random() * 95)::numeric, 2)
                    WHEN k <= 81 THEN round((5 + random() * 30)::numeric, 2)
                    WHEN k <= 83 THEN 10.00
                    ELSE round((20 + random() * 40)::numeric, 2) END AS amount,
               CASE WHEN k = 1 THEN 'CREDIT' WHEN k <= 76 THEN 'DEBIT'
                    WHEN k <= 81 THEN 'CREDIT' WHEN k = 82 THEN 'TRANSFER_OUT'
                    WHEN k = 83 THEN 'TRANSFER_IN' ELSE 'DEBIT' END AS type,
               CASE WHEN k = 1 THEN 'ALLOWANCE' WHEN k <= 76 THEN 'BOOKING'
                    WHEN k <= 81 THEN 'BOOKING_REFUND' WHEN k <= 83 THEN NULL
                    ELSE 'CAR_RENTAL' END AS reference_type,
               CASE WHEN k BETWEEN 2 AND 81 THEN 'BK-' || w || '-' || m || '-' || (k - 1) %% 75
                    END AS reference_id,
               CASE WHEN k > 83 THEN 80.00 END AS hold_amount,
               %(start)s::timestamptz + make_interval(months => m)
                   + (k - 1) * ((%(start)s::timestamptz + make_interval(months => m + 1))
                                - (%(start)s::timestamptz + make_interval(months => m))
                                - interval '3 hours') / %(per_month)s
                   + make_interval(secs => random() * 600) AS created
        FROM generate_series(0, %(users)s - 1) w,
             generate_series(0, %(months)s - 1) m,
             generate_series(1, %(per_month)s) k
    ) e
) g;

UPDATE wallets w SET balance = t.balance_after, version = %(months)s * %(per_month)s
FROM (SELECT DISTINCT ON (wallet_id) wallet_id, balance_after FROM transactions
      ORDER BY wallet_id, created_at DESC) t
WHERE t.wallet_id = w.wallet_id;

-- a MONTHLY budget per wallet and month, used by that month's bookings; the last one ACTIVE
INSERT INTO budgets (company_id, wallet_id, total_amount, used_amount, period_type, start_date,
                     end_date, status, created_by)
SELECT %(company)s, u.wallet_id, 3000 + (abs(hashtext(u.wallet_id::text)) %% 4) * 500,
       u.used, 'MONTHLY', u.month, (u.month + interval '1 month' - interval '1 day')::date,
       CASE WHEN u.month = %(last_month)s THEN 'ACTIVE' ELSE 'EXPIRED' END, %(admin)s
FROM (SELECT wallet_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS month,
             coalesce(sum(amount) FILTER (WHERE type = 'DEBIT'), 0) AS used
      FROM transactions GROUP BY 1, 2) u;
"""

UUID_FUNCTION = """
CREATE FUNCTION uuid_generate(p_namespace uuid, p_n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT md5(p_namespace::text || p_n)::uuid
$$;
"""


def seed(url: str, company: uuid.UUID, admin: uuid.UUID, users: int, months: int) -> date:
    """Fill the database; returns the first day of the month the reports are about."""
    today = datetime.now(UTC).date()
    start, last = first_of_month(today, months), first_of_month(today, 1)
    params = {
        "company": company,
        "admin": admin,
        "users": users,
        "months": months,
        "team": TEAM,
        "per_month": PER_MONTH,
        "start": datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        "last_month": last,
    }
    with psycopg.connect(url) as conn:
        conn.execute(UUID_FUNCTION)
        for statement in SEED_SQL.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
        conn.execute("DROP FUNCTION uuid_generate(uuid, bigint)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a table at rest
        conn.execute("CHECKPOINT")  # write the load out now, not while measuring
    return last


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit("wallet-service exited while starting")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("wallet-service did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def measure(
    http: httpx.Client, requests: int, make: Callable[[], tuple[str, dict[str, str], str]]
) -> dict[str, float]:
    """Latency of `requests` requests made by `make()` -> (path, params, bearer), after a few
    unmeasured ones; every answer must be 200."""
    timings: list[float] = []
    for i in range(requests + min(5, requests)):
        path, params, bearer = make()
        began = time.perf_counter()
        r = http.get(path, params=params, headers={"Authorization": f"Bearer {bearer}"})
        elapsed = (time.perf_counter() - began) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{path} answered {r.status_code}: {r.text[:300]}")
        if i >= min(5, requests):
            timings.append(elapsed)
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(percentile(timings, 99), 2),
        "max_ms": round(max(timings), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000, help="people in the company")
    parser.add_argument("--months", type=int, default=12, help="months of history")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per kind")
    parser.add_argument("--no-record", action="store_true", help="do not append to results")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    rng = random.Random(12)  # picks the wallets and instants asked about
    server = server_url()
    name = f"wallet_bench_reports_{uuid.uuid4().hex[:8]}"
    url = fresh_database(server, name)
    try:
        sys.path.insert(0, str(ROOT / "src"))
        from wallet_service.db.migrate import migrate

        migrate(url)
        company, admin = uuid.uuid4(), uuid.uuid4()
        entries = args.users * args.months * PER_MONTH
        log(f"seeding {args.users} people, {args.months} months, {entries:,} entries ...")
        began = time.monotonic()
        month = seed(url, company, admin, args.users, args.months)
        seeded_s = round(time.monotonic() - began, 1)
        log(f"seeded in {seeded_s} s (with VACUUM ANALYZE)")
        with psycopg.connect(url) as conn:
            wallets = [str(r[0]) for r in conn.execute("SELECT wallet_id FROM wallets")]
            managers = [
                str(r[0]) for r in conn.execute("SELECT user_id FROM users WHERE role = 'MANAGER'")
            ]
            count = conn.execute("SELECT count(*) FROM transactions").fetchone()
        assert count is not None
        load = os.getloadavg()[0]
        if load > 2.0:
            log(f"load average {load:.1f}: the machine is busy, tail latencies will be high")
        figures = run(args, url, company, admin, month, wallets, managers, rng)
    finally:
        if not args.keep:
            drop_database(server, name)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "users": args.users,
        "months": args.months,
        "transactions": count[0],
        "month": month.isoformat()[:7],
        "requests_per_kind": args.requests,
        "seed_seconds": seeded_s,
        "load_average_before": round(load, 2),
        "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
        "reports": figures,
    }
    print()
    print(f"{'report':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, f in figures.items():
        mark = "" if f["p99_ms"] <= TARGET_P99_MS else "  > target"
        print(f"{kind:34} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f} {f['max_ms']:8.2f}{mark}")
    print(f"\n{count[0]:,} transactions; target p99 <= {TARGET_P99_MS:.0f} ms")
    if not args.no_record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
        log(f"appended to {RESULTS.relative_to(ROOT)}")


def run(
    args: argparse.Namespace,
    url: str,
    company: uuid.UUID,
    admin: uuid.UUID,
    month: date,
    wallets: list[str],
    managers: list[str],
    rng: random.Random,
) -> dict[str, dict[str, float]]:
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JWT_SECRET=SECRET,
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        LOG_LEVEL="warning",
        RUN_JOBS="false",
    )
    base = f"http://127.0.0.1:{port}"
    service = subprocess.Popen([sys.executable, "-m", "wallet_service", "serve"], env=env, cwd=ROOT)
    try:
        wait_until_up(base, service)
        admin_token = token("ADMIN", company, admin)
        manager_tokens = [token("MANAGER", company, uuid.UUID(m)) for m in managers]
        last_day = (first_of_month(month, -1) - timedelta(days=1)).isoformat()
        span = {"from": month.isoformat(), "to": last_day}
        history_start = datetime.combine(
            first_of_month(month, args.months - 1), datetime.min.time(), tzinfo=UTC
        )
        history_s = (
            datetime.combine(first_of_month(month, -1), datetime.min.time(), tzinfo=UTC)
            - history_start
        ).total_seconds()

        def wallet() -> str:
            return rng.choice(wallets)

        def instant() -> str:
            return (history_start + timedelta(seconds=rng.random() * history_s)).isoformat()

        kinds: dict[str, Callable[[], tuple[str, dict[str, str], str]]] = {
            "statement json (a wallet, 1 month)": lambda: (
                f"/wallets/{wallet()}/statement",
                span,
                admin_token,
            ),
            "statement csv (a wallet, 1 month)": lambda: (
                f"/wallets/{wallet()}/statement",
                {**span, "format": "csv"},
                admin_token,
            ),
            "balance as_of (a wallet)": lambda: (
                f"/wallets/{wallet()}/balance",
                {"as_of": instant()},
                admin_token,
            ),
        }

        def spend_by(group: str) -> Callable[[], tuple[str, dict[str, str], str]]:
            return lambda: ("/reports/spend", {**span, "group_by": group}, admin_token)

        for group in ("user", "month", "type", "reference_type"):
            kinds[f"spend by {group} (company)"] = spend_by(group)
        kinds["spend by user (a team of 20)"] = lambda: (
            "/reports/spend",
            span,
            rng.choice(manager_tokens),
        )
        kinds["budgets (company)"] = lambda: ("/reports/budgets", {}, admin_token)
        kinds["budgets (a team of 20)"] = lambda: (
            "/reports/budgets",
            {},
            rng.choice(manager_tokens),
        )

        figures: dict[str, dict[str, float]] = {}
        with httpx.Client(base_url=base, timeout=60) as http:
            for kind, make in kinds.items():
                figures[kind] = measure(http, args.requests, make)
                log(f"{kind}: p50 {figures[kind]['p50_ms']} ms, p99 {figures[kind]['p99_ms']} ms")
        return figures
    finally:
        service.terminate()
        service.wait(timeout=30)


if __name__ == "__main__":
    main()
