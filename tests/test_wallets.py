"""Wallets: opening (with the initial balance as a CREDIT entry), reading, listing, and the
status rules (FROZEN takes credits only; CLOSED takes nothing, needs a zero balance, is final)."""

from __future__ import annotations

from typing import Any

from tests.support import Company


def _events(company: Company, event_type: str) -> list[dict[str, Any]]:
    feed = company.events()["events"]
    return [e for e in feed if e["event_type"] == event_type]


def test_open_wallet_with_initial_balance(company: Company) -> None:
    alice = company.member(with_wallet=False)
    r = company.admin.post(
        "/wallets",
        json={"user_id": str(alice.user_id), "initial_balance": "250.75", "currency": "EUR"},
    )
    assert r.status_code == 201, r.text
    wallet = r.json()
    assert wallet["user_id"] == str(alice.user_id)
    assert (wallet["balance"], wallet["available_balance"]) == ("250.75", "250.75")
    assert (wallet["currency"], wallet["status"]) == ("EUR", "ACTIVE")
    txns = company.admin.get(f"/wallets/{wallet['wallet_id']}/transactions").json()["transactions"]
    assert [(t["type"], t["amount"], t["status"]) for t in txns] == [
        ("CREDIT", "250.75", "COMPLETED")
    ]
    created = [
        e
        for e in _events(company, "WalletCreated")
        if e["data"]["wallet_id"] == wallet["wallet_id"]
    ]
    assert created[0]["data"]["initial_balance"] == "250.75"
    assert created[0]["data"]["currency"] == "EUR"


def test_defaults_of_a_new_wallet(company: Company) -> None:
    alice = company.member(with_wallet=False)
    wallet = company.system.post("/wallets", json={"user_id": str(alice.user_id)}).json()
    assert (wallet["balance"], wallet["currency"]) == ("0.00", "USD")
    assert (
        company.admin.get(f"/wallets/{wallet['wallet_id']}/transactions").json()["transactions"]
        == []
    )


def test_second_wallet_is_refused(company: Company) -> None:
    alice = company.member()
    r = company.admin.post("/wallets", json={"user_id": str(alice.user_id)})
    assert r.status_code == 409 and r.json()["code"] == "WALLET_EXISTS"


def test_wallet_for_unknown_user(company: Company) -> None:
    import uuid

    r = company.admin.post("/wallets", json={"user_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["code"] == "USER_NOT_FOUND"


def test_frozen_wallet_takes_credits_but_not_debits(company: Company) -> None:
    alice = company.member(balance="50.00")
    r = company.admin.put(
        f"/wallets/{alice.wallet_id}/status", json={"status": "FROZEN", "reason": "audit"}
    )
    assert r.status_code == 200 and r.json()["status"] == "FROZEN"
    r = company.debit(alice.wallet_id, "1.00")
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    company.credit(alice.wallet_id, "5.00")
    assert company.wallet(alice)["balance"] == "55.00"
    assert (
        company.admin.put(
            f"/wallets/{alice.wallet_id}/status", json={"status": "ACTIVE"}
        ).status_code
        == 200
    )
    assert company.debit(alice.wallet_id, "1.00").status_code == 201
    changes = [
        e
        for e in _events(company, "WalletStatusChanged")
        if e["data"]["wallet_id"] == alice.wallet_id
    ]
    assert [(e["data"]["old_status"], e["data"]["new_status"]) for e in changes] == [
        ("ACTIVE", "FROZEN"),
        ("FROZEN", "ACTIVE"),
    ]
    assert changes[0]["data"]["reason"] == "audit"


def test_close_needs_an_empty_wallet_and_is_final(company: Company) -> None:
    alice = company.member(balance="20.00")
    r = company.admin.put(f"/wallets/{alice.wallet_id}/status", json={"status": "CLOSED"})
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_EMPTY"
    assert company.wallet(alice)["status"] == "ACTIVE"
    assert company.debit(alice.wallet_id, "20.00").status_code == 201
    r = company.admin.put(f"/wallets/{alice.wallet_id}/status", json={"status": "CLOSED"})
    assert r.status_code == 200 and r.json()["status"] == "CLOSED"
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions", json={"amount": "1", "type": "CREDIT"}
    )
    assert r.status_code == 409 and r.json()["code"] == "WALLET_NOT_ACTIVE"
    for target in ("ACTIVE", "FROZEN"):
        r = company.admin.put(f"/wallets/{alice.wallet_id}/status", json={"status": target})
        assert r.status_code == 409 and r.json()["code"] == "INVALID_STATUS_TRANSITION"


def test_setting_the_same_status_is_a_no_op(company: Company) -> None:
    alice = company.member()
    before = company.wallet(alice)
    r = company.admin.put(f"/wallets/{alice.wallet_id}/status", json={"status": "ACTIVE"})
    assert r.status_code == 200 and r.json()["version"] == before["version"]


def test_list_wallets_pages_and_filters(company: Company) -> None:
    members = [company.member() for _ in range(5)]
    company.admin.put(f"/wallets/{members[0].wallet_id}/status", json={"status": "FROZEN"})
    page1 = company.admin.get("/wallets?page=1&limit=2").json()
    page3 = company.admin.get("/wallets?page=3&limit=2").json()
    assert page1["pagination"] == {"page": 1, "limit": 2, "total": 5}
    assert len(page1["wallets"]) == 2 and len(page3["wallets"]) == 1
    frozen = company.admin.get("/wallets?status=FROZEN").json()
    assert [w["wallet_id"] for w in frozen["wallets"]] == [members[0].wallet_id]
