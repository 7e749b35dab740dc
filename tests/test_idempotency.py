"""Idempotency-Key: a retry with the same key and body replays the first answer and changes
nothing, even when many retries race; the same key with another body is refused; keys are scoped
to the caller."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.support import Api, Company, token


def test_retry_replays_the_first_answer(company: Company) -> None:
    alice = company.member(balance="50.00")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = company.debit(alice.wallet_id, "20.00", headers=key)
    second = company.debit(alice.wallet_id, "20.00", headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert company.wallet(alice)["balance"] == "30.00"


def test_same_key_other_body_is_refused(company: Company) -> None:
    alice = company.member(balance="50.00")
    key = {"Idempotency-Key": "pay-once"}
    assert company.debit(alice.wallet_id, "20.00", headers=key).status_code == 201
    r = company.debit(alice.wallet_id, "21.00", headers=key)
    assert r.status_code == 409 and r.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert company.wallet(alice)["balance"] == "30.00"


def test_keys_are_scoped_to_the_caller(company: Company) -> None:
    alice = company.member(balance="50.00")
    other_system = Api(company.base_url, token("SYSTEM"))
    key = {"Idempotency-Key": "shared-key"}
    assert company.debit(alice.wallet_id, "5.00", headers=key).status_code == 201
    r = other_system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={"amount": "5.00", "type": "DEBIT"},
        headers=key,
    )
    assert r.status_code == 201
    assert company.wallet(alice)["balance"] == "40.00"


def test_many_concurrent_retries_apply_once(company: Company) -> None:
    alice = company.member(balance="100.00")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(
            pool.map(lambda _: company.debit(alice.wallet_id, "7.00", headers=key), range(60))
        )
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["txn_id"] for r in answers}) == 1
    assert company.wallet(alice)["balance"] == "93.00"
    txns = alice.api.get(f"/wallets/{alice.wallet_id}/transactions").json()["transactions"]
    assert [t["type"] for t in txns].count("DEBIT") == 1


def test_wallet_creation_and_status_change_are_idempotent(company: Company) -> None:
    alice = company.member(with_wallet=False)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"user_id": str(alice.user_id), "initial_balance": "5.00"}
    first = company.admin.post("/wallets", json=body, headers=key)
    again = company.admin.post("/wallets", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    wallet_id = first.json()["wallet_id"]
    key2 = {"Idempotency-Key": str(uuid.uuid4())}
    freeze = company.admin.put(
        f"/wallets/{wallet_id}/status", json={"status": "FROZEN"}, headers=key2
    )
    replay = company.admin.put(
        f"/wallets/{wallet_id}/status", json={"status": "FROZEN"}, headers=key2
    )
    assert freeze.json() == replay.json()
    feed = company.events()["events"]
    assert (
        sum(
            1
            for e in feed
            if e["event_type"] == "WalletCreated" and e["data"]["wallet_id"] == wallet_id
        )
        == 1
    )
    assert (
        sum(
            1
            for e in feed
            if e["event_type"] == "WalletStatusChanged" and e["data"]["wallet_id"] == wallet_id
        )
        == 1
    )


def test_a_key_replays_nothing_to_another_company(company: Company) -> None:
    """Two tokens with the same role and sub but different companies are two callers: the second
    company's ADMIN, sending the first one's key and body, is told the wallet does not exist
    (as for any other company's wallet) instead of receiving the stored answer."""
    alice = company.member(balance="75.00")
    sub = uuid.uuid4()
    ours = Api(company.base_url, token("ADMIN", company_id=company.company_id, sub=sub))
    theirs = Api(company.base_url, token("ADMIN", company_id=uuid.uuid4(), sub=sub))
    key = {"Idempotency-Key": "freeze-1"}
    path = f"/wallets/{alice.wallet_id}/status"
    first = ours.put(path, json={"status": "FROZEN"}, headers=key)
    assert first.status_code == 200, first.text
    stolen = theirs.put(path, json={"status": "FROZEN"}, headers=key)
    assert stolen.status_code == 404, stolen.text
    assert stolen.json()["code"] == "WALLET_NOT_FOUND"
    assert "75.00" not in stolen.text
    budget = {"wallet_id": alice.wallet_id, "total_amount": "10.00", "start_date": "2030-01-01"}
    key = {"Idempotency-Key": "budget-1"}
    assert ours.post("/budgets", json=budget, headers=key).status_code == 201
    stolen = theirs.post("/budgets", json=budget, headers=key)
    assert stolen.status_code == 404 and stolen.json()["code"] == "WALLET_NOT_FOUND"


def test_a_replay_is_checked_against_the_callers_scope_now(company: Company) -> None:
    """A stored answer is replayed only to a caller who may still act on its wallet: a manager's
    retry after the user left their team is refused, not answered from the store."""
    boss = company.member("MANAGER")
    report = company.member(manager=boss)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    path = f"/wallets/{report.wallet_id}/status"
    assert boss.api.put(path, json={"status": "FROZEN"}, headers=key).status_code == 200
    moved = company.event(
        "UserCreated",
        {"user_id": str(report.user_id), "company_id": str(company.company_id)},
    )
    assert moved.status_code == 200, moved.text
    retry = boss.api.put(path, json={"status": "FROZEN"}, headers=key)
    assert retry.status_code == 403, retry.text
    assert retry.json()["code"] == "FORBIDDEN"
