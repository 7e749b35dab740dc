"""Group commit: concurrent single postings share engine calls, and each request still gets exactly
its own answer. Over HTTP against the real engine (refusals mixed in, idempotent retries racing),
and the scheduler's failure handling with a stand-in for the database call."""

from __future__ import annotations

import asyncio
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from tests.support import Company, booking
from wallet_service import errors
from wallet_service.ledger.group_commit import GroupCommit, GroupCommitSettings


def _metric(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_concurrent_postings_share_commits_and_keep_their_own_answers(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="40.00")  # room for 40 of the 64 debits
    bob = company.member(balance="0.00")
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    groups_before = _metric(company.base_url, "wallet_group_commit_size_count")
    postings_before = _metric(company.base_url, "wallet_group_commit_size_sum")

    def call(i: int) -> httpx.Response:
        if i % 4 == 3:
            return company.system.post(
                f"/wallets/{bob.wallet_id}/transactions",
                json={"amount": "5.00", "type": "CREDIT"},
                headers=key,  # the same request retried 24 times, all at once
            )
        return company.debit(alice.wallet_id, "1.00")

    with ThreadPoolExecutor(max_workers=48) as pool:
        answers = list(pool.map(call, range(96)))

    debits = [r for i, r in enumerate(answers) if i % 4 != 3]
    retries = [r for i, r in enumerate(answers) if i % 4 == 3]
    assert sorted(r.status_code for r in debits) == [201] * 40 + [409] * 32
    assert {r.json()["code"] for r in debits if r.status_code == 409} == {"INSUFFICIENT_FUNDS"}
    assert sorted(Decimal(r.json()["balance_after"]) for r in debits if r.status_code == 201) == [
        Decimal(n) for n in range(40)
    ], "each debit answered its own balance"
    assert {r.status_code for r in retries} == {201}
    assert len({r.json()["txn_id"] for r in retries}) == 1, "the retried credit applied once"
    assert company.wallet(bob)["balance"] == "5.00"
    assert company.wallet(alice)["balance"] == "0.00"
    rows = sql.execute(
        "SELECT count(*) FROM transactions WHERE wallet_id = %s", (bob.wallet_id,)
    ).fetchone()
    assert rows == (1,)

    groups = _metric(company.base_url, "wallet_group_commit_size_count") - groups_before
    postings = _metric(company.base_url, "wallet_group_commit_size_sum") - postings_before
    assert postings == 96
    assert groups < postings, f"{postings:.0f} postings in {groups:.0f} groups: none shared"


# --- the scheduler, with a stand-in for the database call -------------------------------------


async def _submit_all(group: GroupCommit[int, int], items: list[int]) -> list[Any]:
    return await asyncio.gather(*(group.submit(i) for i in items), return_exceptions=True)


def test_a_failing_group_is_rerun_posting_by_posting() -> None:
    calls: list[list[int]] = []

    async def send(postings: list[int]) -> list[int]:
        calls.append(postings)
        if 13 in postings:
            raise errors.ValidationFailed("13 breaks a constraint")
        return [p * 10 for p in postings]

    async def go() -> list[Any]:
        group = GroupCommit(send, GroupCommitSettings(window_s=0.01, lanes=1))
        group.start()
        try:
            return await _submit_all(group, [11, 12, 13, 14])
        finally:
            await group.close()

    answers = asyncio.run(go())
    assert answers[:2] == [110, 120] and answers[3] == 140
    assert isinstance(answers[2], errors.ValidationFailed)
    assert calls[0] == [11, 12, 13, 14], "first as one group"
    assert sorted(len(c) for c in calls[1:]) == [1, 1, 1, 1], "then one by one"


def test_a_deadlocked_group_is_retried_unseen() -> None:
    attempts: list[int] = []

    async def send(postings: list[int]) -> list[int]:
        attempts.append(len(postings))
        if len(attempts) < 3:
            raise errors.ConcurrencyConflict("deadlock detected")
        return postings

    async def go() -> list[Any]:
        group = GroupCommit(send, GroupCommitSettings(window_s=0.01, lanes=1))
        group.start()
        try:
            return await _submit_all(group, [1, 2, 3])
        finally:
            await group.close()

    assert asyncio.run(go()) == [1, 2, 3]
    assert attempts == [3, 3, 3]


def test_an_unavailable_database_fails_the_group_503() -> None:
    async def send(postings: list[int]) -> list[int]:
        raise errors.ServiceUnavailable("the database is unavailable")

    async def go() -> list[Any]:
        group = GroupCommit(send, GroupCommitSettings(window_s=0.01, lanes=1))
        group.start()
        try:
            return await _submit_all(group, [1, 2])
        finally:
            await group.close()

    answers = asyncio.run(go())
    assert all(isinstance(a, errors.ServiceUnavailable) for a in answers)


def test_shutdown_answers_waiting_postings_503_and_finishes_the_group_in_flight() -> None:
    started = asyncio.Event

    async def go() -> tuple[list[Any], list[list[int]]]:
        in_flight = started()
        release = started()
        sent: list[list[int]] = []

        async def send(postings: list[int]) -> list[int]:
            sent.append(postings)
            in_flight.set()
            await release.wait()
            return postings

        group = GroupCommit(send, GroupCommitSettings(window_s=0, lanes=1, max_group=2))
        group.start()
        tasks = [asyncio.create_task(group.submit(i)) for i in range(5)]
        await in_flight.wait()
        closing = asyncio.create_task(group.close())
        await asyncio.sleep(0.01)
        release.set()
        await closing
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        with pytest.raises(errors.ServiceUnavailable):
            await group.submit(99)
        return answers, sent

    answers, sent = asyncio.run(go())
    assert sent == [[0, 1]], "only the group already sent went to the database"
    assert answers[:2] == [0, 1]
    assert all(isinstance(a, errors.ServiceUnavailable) for a in answers[2:])


def test_backpressure_bounds_the_postings_waiting() -> None:
    most_waiting = 0

    async def go() -> None:
        nonlocal most_waiting
        group: GroupCommit[int, int]

        async def send(postings: list[int]) -> list[int]:
            nonlocal most_waiting
            most_waiting = max(most_waiting, len(postings) + len(group._queue))
            await asyncio.sleep(0.005)
            return postings

        group = GroupCommit(send, GroupCommitSettings(window_s=0, lanes=1, max_pending=8))
        group.start()
        try:
            assert await _submit_all(group, list(range(100))) == list(range(100))
        finally:
            await group.close()

    asyncio.run(go())
    assert 1 < most_waiting <= 8


def test_racing_redeliveries_of_a_booking_apply_once(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    event_id = str(uuid.uuid4())
    data = booking(alice, "30.00")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(
            pool.map(lambda _: company.event("BookingCreated", data, event_id), range(12))
        )

    assert {r.status_code for r in answers} == {200}
    applied = [r.json() for r in answers if r.json()["applied"]]
    assert len(applied) == 1, "one delivery applied it"
    applied_response = next(r for r in answers if r.json()["applied"])
    txn_ids = {r.json()["result"]["txn_id"] for r in answers}
    assert txn_ids == {applied[0]["result"]["txn_id"]}, "the others answered what it answered"
    assert company.wallet(alice)["balance"] == "70.00"
    row = sql.execute(
        "SELECT count(*), min(request_id) FROM transactions"
        " WHERE wallet_id = %s AND reference_type = 'BOOKING'",
        (alice.wallet_id,),
    ).fetchone()
    assert row is not None and row[0] == 1
    assert row[1] == applied_response.headers["X-Request-Id"], "the entry names its request"
