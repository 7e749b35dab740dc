"""A database connection that fails in the middle of a request (a fast shutdown, a terminated
backend, a client left in a broken protocol state) is 503 SERVICE_UNAVAILABLE, never a 500, and
the pool goes on with fresh connections."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest

from tests.support import Company, wait_for
from wallet_service import errors
from wallet_service.db.pool import translate_errors

CONNECTION_FAILURES = [
    asyncpg.exceptions.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    ),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.InvalidCatalogNameError('database "wallet" does not exist'),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
]


@pytest.mark.parametrize(
    "failure", CONNECTION_FAILURES, ids=[type(f).__name__ for f in CONNECTION_FAILURES]
)
def test_connection_failures_are_service_unavailable(failure: Exception) -> None:
    with pytest.raises(errors.ServiceUnavailable) as caught, translate_errors():
        raise failure
    assert "retry" in caught.value.detail


def test_a_backend_terminated_mid_request_is_503(
    company: Company, database_url: str, sql: psycopg.Connection[Any]
) -> None:
    """The debit waits for the wallet's row lock; its backend is terminated meanwhile (what a fast
    shutdown does to every backend): the client gets 503, nothing changed, and the next request
    is served."""
    alice = company.member(balance="10.00")
    answer: list[httpx.Response] = []
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM wallets WHERE wallet_id = %s FOR UPDATE", (alice.wallet_id,))
        request = threading.Thread(
            target=lambda: answer.append(company.debit(alice.wallet_id, "1.00"))
        )
        request.start()
        waiting = wait_for(
            lambda: sql.execute(
                """SELECT pid FROM pg_stat_activity
                   WHERE datname = current_database() AND application_name = 'wallet-service'
                     AND wait_event_type = 'Lock'"""
            ).fetchall(),
            timeout=10,
            every=0.02,
        )
        for (pid,) in waiting:
            sql.execute("SELECT pg_terminate_backend(%s)", (pid,))
        request.join(timeout=30)
        holder.rollback()
    assert answer, "the request did not come back"
    r = answer[0]
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "SERVICE_UNAVAILABLE"
    assert company.wallet(alice)["balance"] == "10.00"
    assert company.debit(alice.wallet_id, "1.00").status_code == 201
    assert company.wallet(alice)["balance"] == "9.00"


def test_pooled_connections_terminated_between_requests_are_503_at_worst(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    """Every backend of the service is terminated (as a fast shutdown does) right before the next
    requests: those that meet a dying pooled connection answer 503 (asyncpg reports some of them
    as InternalClientError "cannot switch to state ..."), never 500, and no debit is lost or
    applied twice."""
    alice = company.member(balance="10.00")
    statuses: list[int] = []
    debited = 0
    for _ in range(15):
        company.system.get(f"/wallets/{alice.user_id}")
        sql.execute(
            """SELECT pg_terminate_backend(pid) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name = 'wallet-service'"""
        )
        read = company.system.get(f"/wallets/{alice.user_id}")
        debit = company.debit(alice.wallet_id, "0.10")
        for r in (read, debit):
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.json()["code"] == "SERVICE_UNAVAILABLE", r.text
        debited += debit.status_code == 201
    assert set(statuses) <= {200, 201, 503}, statuses
    assert Decimal(company.wallet(alice)["balance"]) == Decimal("10.00") - debited * Decimal("0.10")
