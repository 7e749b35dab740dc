"""The relay on the real RabbitMQ: every outbox row is published once even with two relays at
once, each wallet's events in order; and with the broker stopped in the middle of a burst of
transactions (`rabbitmqctl stop_app` ... `start_app`), a `wallet-service worker` delivers every
event once the broker is back: N written, N received, 0 lost."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg

from tests.broker import AMQP_URL, Tap, body, require_broker
from tests.support import Company, wait_for
from wallet_service.db.pool import Database
from wallet_service.events.relay import Relay, RelayConfig


def _outbox(sql: psycopg.Connection[Any], company: Company) -> dict[str, tuple[int, str | None]]:
    """event_id -> (seq, wallet_id) of the company's events."""
    rows = sql.execute(
        "SELECT event_id::text, seq, wallet_id::text FROM outbox WHERE company_id = %s",
        (company.company_id,),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _unpublished(sql: psycopg.Connection[Any], company: Company) -> int:
    row = sql.execute(
        "SELECT count(*) FROM outbox WHERE company_id = %s AND published_at IS NULL",
        (company.company_id,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _assert_wallet_order(received: list[str], outbox: dict[str, tuple[int, str | None]]) -> None:
    """Per wallet, the first delivery of each event comes in seq order."""
    seen: set[str] = set()
    last: dict[str, int] = defaultdict(int)
    for event_id in received:
        if event_id in seen or event_id not in outbox:
            continue
        seen.add(event_id)
        seq, wallet = outbox[event_id]
        if wallet is not None:
            assert seq > last[wallet], f"wallet {wallet}: event seq {seq} after {last[wallet]}"
            last[wallet] = seq


def _burst(company: Company, wallets: list[str], n: int, workers: int = 8, at: Any = None) -> None:
    """n credits spread over the wallets; `at` = (k, fn): start fn in a thread at the k-th."""

    def one(i: int) -> None:
        if at is not None and i == at[0]:
            threading.Thread(target=at[1]).start()
        company.credit(wallets[i % len(wallets)], "1.00")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(n)))


def test_two_relays_publish_every_row_once_in_wallet_order(
    company: Company, sql: psycopg.Connection[Any], database_url: str
) -> None:
    require_broker()
    exchange = f"test.wallet-events.{uuid.uuid4().hex[:10]}"
    tap = Tap(exchange)
    try:
        members = [company.member(balance="1.00") for _ in range(12)]

        async def run_two() -> None:
            db = await Database.connect(database_url, max_size=4)
            config = RelayConfig(exchange=exchange, batch_size=5, idle_s=0.02)
            relays = [Relay(db, AMQP_URL, config) for _ in range(2)]
            tasks = [asyncio.create_task(r.run()) for r in relays]
            try:
                async with asyncio.timeout(60):
                    while not all(r.connected for r in relays):  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                    # the burst runs while both relays are polling
                    await asyncio.to_thread(_burst, company, [m.wallet_id for m in members], 150)
                    while await asyncio.to_thread(_unpublished, sql, company):  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
            finally:
                for r in relays:
                    r.stop()
                await asyncio.gather(*tasks)
                await db.close()
            print(f"\nrelays published {[r.published for r in relays]}")
            assert all(r.published for r in relays), "both relays took part"

        asyncio.run(run_two())
        outbox = _outbox(sql, company)
        messages = [body(m) for m in tap.drain(want=len(outbox))]
        received = [m["event_id"] for m in messages]
        mine = [e for e in received if e in outbox]
        assert len(outbox) >= 150 + 24
        assert set(mine) == set(outbox)
        assert len(mine) == len(outbox), "no row was published twice"
        _assert_wallet_order(received, outbox)
        versions = dict(
            sql.execute(
                "SELECT event_id::text, wallet_version FROM outbox WHERE company_id = %s",
                (company.company_id,),
            ).fetchall()
        )
        assert all(
            m["wallet_version"] == versions[m["event_id"]]
            for m in messages
            if m["event_id"] in versions
        )
        assert all(versions[e] is not None for e in mine), (
            "every event of this test changes a wallet"
        )
    finally:
        tap.delete()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_broker_outage_during_a_burst_loses_nothing(
    company: Company, sql: psycopg.Connection[Any], database_url: str
) -> None:
    require_broker()
    tap = Tap("wallet.events")
    env = {**os.environ, "DATABASE_URL": database_url, "AMQP_URL": AMQP_URL, "LOG_LEVEL": "warning"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "wallet_service", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    broker_stopped = False
    try:
        members = [company.member(balance="1.00") for _ in range(5)]
        wait_for(lambda: _unpublished(sql, company) == 0, timeout=30)  # the worker is relaying
        n = 600
        stopped = threading.Event()

        def outage() -> None:
            _rabbitmqctl("stop_app")
            stopped.set()

        broker_stopped = True
        _burst(company, [m.wallet_id for m in members], n, at=(n // 4, outage))
        assert stopped.wait(120)
        waiting = _unpublished(sql, company)
        assert waiting > 0, "the burst went on while the broker was down"
        time.sleep(2)  # the service keeps taking transactions with the broker down
        _burst(company, [m.wallet_id for m in members], 50)
        assert _unpublished(sql, company) > waiting, "the outbox grows while the broker is down"
        _rabbitmqctl("start_app")
        broker_stopped = False
        wait_for(lambda: _unpublished(sql, company) == 0, timeout=90, every=0.5)
        outbox = _outbox(sql, company)
        received = [body(m)["event_id"] for m in tap.drain(want=len(outbox), timeout=60)]
        mine = [e for e in received if e in outbox]
        lost = set(outbox) - set(mine)
        print(
            f"\nburst: {len(outbox)} events written, {len(set(mine))} received, "
            f"{len(lost)} lost, {len(mine) - len(set(mine))} duplicates; "
            f"{waiting} were waiting in the outbox when the broker stopped"
        )
        assert len(outbox) >= n + 50
        assert not lost
        _assert_wallet_order(received, outbox)
    finally:
        if broker_stopped:
            _rabbitmqctl("start_app")
        worker.terminate()
        try:
            _, err = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, err = worker.communicate()
        wait_for(lambda: _can_connect(), timeout=60, every=1)
        tap.delete()
    assert worker.returncode == 0, err[-2000:]
    assert "reconnecting" in err or "not reachable" in err, "the worker saw the outage"


def _can_connect() -> bool:
    try:
        require_broker()
    except BaseException:
        return False
    return True
