"""With AMQP_URL set but no broker answering, the service still takes transactions (the outbox
grows), /ready reports the broker as unavailable, and shutdown does not hang."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import psycopg

from tests.support import Company, free_port, serve_in_thread
from wallet_service.app import create_app
from wallet_service.config import Settings


def test_no_broker_means_not_ready_but_still_serving(
    settings: Settings, sql: psycopg.Connection[Any]
) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    app = create_app(dataclasses.replace(settings, amqp_url=dead))
    with serve_in_thread(app) as url:
        r = httpx.get(f"{url}/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] == "ok"
        assert "RabbitMQ not connected" in r.json()["checks"]["broker"]
        company = Company(url)
        alice = company.member(balance="5.00")
        row = sql.execute(
            "SELECT count(*) FROM outbox WHERE wallet_id = %s AND published_at IS NULL",
            (alice.wallet_id,),
        ).fetchone()
        assert row is not None and row[0] >= 2  # WalletCreated, TransactionCompleted: waiting
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5, "shutdown does not wait for a broker that is gone"
