"""Benchmark: the HTTP layer under each ASGI server, side by side in one run.

    .venv/bin/python bench/http_load.py                      # uvicorn and granian, 2 workers
    .venv/bin/python bench/http_load.py --servers uvicorn --duration 20 --connections 64

For each server in --servers it creates a fresh database (on DATABASE_URL's server, else the
embedded PostgreSQL), starts the app under that server with --workers processes, registers
--wallets funded wallets, then measures
  * GET /wallets/{userId} with `wrk` (bench/wallet_read.lua: an ADMIN token, random users),
  * single DEBITs over HTTP with debit_load.py's keep-alive client,
each at --connections concurrent connections for --duration seconds, with the server's CPU time
(all its processes) per request, checks that every balance still equals its ledger, and stops
the server with SIGTERM; with --repeat N the servers take turns N times. pgbench's tpcb-like
then runs at the same concurrency, so every figure has a ratio measured in the same run. Results
are printed as a table and appended, one JSON line per server, to bench/results/http_load.jsonl.

The load generators, the servers and PostgreSQL share this machine's cores: wrk runs one thread,
and the figures are a floor for a deployment where clients run elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from debit_load import (
    ROOT,
    SECRET,
    debit_request,
    free_port,
    fresh_database,
    load,
    log,
    run_pgbench,
    server_url,
    token,
)

APP = "wallet_service.app:create_app_from_env"


def server_command(server: str) -> list[str]:
    py = sys.executable
    if server == "uvicorn":
        return [py, "-m", "uvicorn", APP, "--factory", "--host", "127.0.0.1"]
    if server == "granian":
        return [py, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1", APP]
    raise SystemExit(f"unknown server {server!r}")


def start(server: str, url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JWT_SECRET=SECRET,
        LOG_LEVEL="warning",
        RATE_LIMIT="off",
        RUN_JOBS="false",
    )
    cmd = server_command(server)
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    cmd += ["--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{server} did not start")


def seed(base: str, company: uuid.UUID, count: int) -> tuple[list[str], list[str]]:
    """`count` users of `company`, each with a wallet holding 100,000.00: (user ids, wallets)."""
    users: list[str] = []
    wallets: list[str] = []
    system = {"Authorization": f"Bearer {token('SYSTEM')}"}
    with httpx.Client(base_url=base, headers=system, timeout=30) as http:
        for _ in range(count):
            user = str(uuid.uuid4())
            event = {
                "event_type": "UserCreated",
                "data": {"user_id": user, "company_id": str(company), "role": "USER"},
            }
            wallet = http.post("/events", json=event).json()["result"]
            r = http.post(
                f"/wallets/{wallet['wallet_id']}/transactions",
                json={"amount": "100000.00", "type": "CREDIT"},
            )
            assert r.status_code == 201, r.text
            users.append(user)
            wallets.append(wallet["wallet_id"])
    return users, wallets


def run_wrk(port: int, bearer: str, users: list[str], connections: int, duration: int) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(users) + "\n")
    env = dict(os.environ, BENCH_TOKEN=bearer, BENCH_USERS=fh.name)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(ROOT / "bench" / "wallet_read.lua"), f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    os.unlink(fh.name)
    figures = json.loads(out.strip().splitlines()[-1])
    seconds = figures["duration_us"] / 1e6
    return {
        "requests": figures["requests"],
        "rps": round(figures["requests"] / seconds, 1),
        "p50_ms": round(figures["p50_us"] / 1000, 2),
        "p99_ms": round(figures["p99_us"] / 1000, 2),
        "non_2xx": figures["non_2xx"],
        "socket_errors": figures["socket_errors"],
    }


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (the server and its workers):
    CPU per request stays comparable when other work shares the machine, unlike throughput."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def per_request(pid: int, cpu_before: float, requests: int) -> float:
    """Microseconds of server CPU per request since `cpu_before`."""
    return round((tree_cpu_seconds(pid) - cpu_before) * 1e6 / max(1, requests), 1)


def ledger_drift(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            """SELECT count(*) FROM wallets w WHERE w.balance <> (
                   SELECT coalesce(sum(CASE WHEN t.type IN ('CREDIT', 'TRANSFER_IN')
                                            THEN t.amount ELSE -t.amount END), 0)
                   FROM transactions t
                   WHERE t.wallet_id = w.wallet_id AND t.status = 'COMPLETED')"""
        ).fetchone()
    return int(row[0]) if row else -1


def measure(server: str, args: argparse.Namespace, dbserver: str) -> dict[str, Any]:
    url = fresh_database(dbserver, "wallet_http_bench")
    subprocess.run(
        [sys.executable, "-m", "wallet_service", "migrate"],
        env=dict(os.environ, DATABASE_URL=url),
        check=True,
        capture_output=True,
    )
    port = free_port()
    log(f"{server}: {args.workers} workers on :{port}")
    proc = start(server, url, port, args.workers)
    try:
        company = uuid.uuid4()
        log(f"{server}: registering {args.wallets} funded wallets ...")
        users, wallets = seed(f"http://127.0.0.1:{port}", company, args.wallets)
        log(f"{server}: GET /wallets/{{userId}} with wrk, {args.connections} connections ...")
        cpu = tree_cpu_seconds(proc.pid)
        read = run_wrk(port, token("ADMIN", company), users, args.connections, args.duration)
        read["server_cpu_us_per_request"] = per_request(proc.pid, cpu, read.pop("requests"))
        log(f"{server}: {read}")
        log(f"{server}: single DEBITs, {args.connections} connections ...")
        cpu = tree_cpu_seconds(proc.pid)
        system = token("SYSTEM")
        debits = asyncio.run(
            load(
                port,
                [debit_request(port, system, w) for w in wallets],
                args.connections,
                args.duration,
                ok_status=201,
            )
        )
        posted = debits["requests"]
        assert isinstance(posted, int)
        debits["server_cpu_us_per_request"] = per_request(proc.pid, cpu, posted)
        log(f"{server}: {debits['tps']} debits/s, p99 {debits['p99_ms']} ms")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "server": server,
        "read": read,
        "debits": debits,
        "wallets_whose_balance_differs_from_ledger": ledger_drift(url),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, servers taking turns")
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument("--label", default="", help="a note stored with the results")
    args = parser.parse_args()

    dbserver = server_url()
    # servers take turns (--repeat rounds), so a burst of other work on the machine does not
    # land on one server only
    results = [
        measure(s, args, dbserver) for _ in range(args.repeat) for s in args.servers.split(",")
    ]
    pg_tps = None if args.skip_pgbench else run_pgbench(dbserver, args.connections, args.duration)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    print(
        f"\n{'server':8} {'GET rps':>9} {'GET p99':>9} {'GET cpu':>9} "
        f"{'debits/s':>9} {'debit p99':>10} {'debit cpu':>10} ratio"
    )
    out = ROOT / "bench" / "results" / "http_load.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as fh:
        for r in results:
            tps = float(r["debits"]["tps"])
            ratio = round(tps / pg_tps, 3) if pg_tps else None
            print(
                f"{r['server']:8} {r['read']['rps']:9.0f} {r['read']['p99_ms']:7.1f}ms "
                f"{r['read']['server_cpu_us_per_request']:7.0f}us "
                f"{tps:9.0f} {r['debits']['p99_ms']:8.1f}ms "
                f"{r['debits']['server_cpu_us_per_request']:8.0f}us {ratio}"
            )
            r.update(
                pgbench_tpcb_like_tps=pg_tps,
                debit_ratio_vs_pgbench=ratio,
                when=when,
                workers=args.workers,
                connections=args.connections,
                duration_s=args.duration,
                wallets=args.wallets,
                label=args.label,
                database="DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
            )
            fh.write(json.dumps(r) + "\n")
    if pg_tps:
        print(f"pgbench tpcb-like: {pg_tps:.0f} TPS ({args.connections} clients)")


if __name__ == "__main__":
    main()
