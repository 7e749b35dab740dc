"""Company defaults decide what a new user gets on UserCreated."""

from __future__ import annotations

import uuid

from tests.support import Company


def test_contract_defaults_before_anything_is_set(company: Company) -> None:
    body = company.admin.get(f"/companies/{company.company_id}/defaults").json()
    assert body["auto_create_wallet"] is True
    assert (body["currency"], body["initial_balance"], body["budgets"]) == ("USD", "0.00", [])
    alice = company.member()
    assert alice.wallet is not None
    assert (alice.wallet["currency"], alice.wallet["balance"]) == ("USD", "0.00")


def test_put_changes_only_the_given_fields(company: Company) -> None:
    body = company.set_defaults(currency="INR", initial_balance="150.00")
    assert (body["currency"], body["initial_balance"], body["auto_create_wallet"]) == (
        "INR",
        "150.00",
        True,
    )
    body = company.set_defaults(auto_create_wallet=True)
    assert body["currency"] == "INR"
    alice = company.member()
    assert alice.wallet is not None
    assert (alice.wallet["currency"], alice.wallet["balance"]) == ("INR", "150.00")
    txns = company.admin.get(f"/wallets/{alice.wallet_id}/transactions").json()["transactions"]
    assert [(t["type"], t["amount"]) for t in txns] == [("CREDIT", "150.00")]


def test_auto_create_off_registers_the_user_without_a_wallet(company: Company) -> None:
    company.set_defaults(auto_create_wallet=False)
    user_id = uuid.uuid4()
    r = company.system.post(
        "/events",
        json={
            "event_type": "UserCreated",
            "data": {
                "user_id": str(user_id),
                "company_id": str(company.company_id),
                "role": "USER",
            },
        },
    )
    assert r.status_code == 200 and r.json()["result"] is None
    assert company.system.get(f"/wallets/{user_id}").json()["code"] == "WALLET_NOT_FOUND"
    assert company.admin.post("/wallets", json={"user_id": str(user_id)}).status_code == 201


def test_user_created_is_applied_once(company: Company) -> None:
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "UserCreated",
        "data": {
            "user_id": str(uuid.uuid4()),
            "company_id": str(company.company_id),
            "role": "USER",
        },
    }
    company.set_defaults(initial_balance="10.00")
    first = company.system.post("/events", json=event)
    again = company.system.post("/events", json=event)
    assert first.status_code == again.status_code == 200
    assert first.json()["applied"] is True and again.json()["applied"] is False
    wallet_id = first.json()["result"]["wallet_id"]
    assert again.json()["result"]["wallet_id"] == wallet_id
    txns = company.admin.get(f"/wallets/{wallet_id}/transactions").json()["transactions"]
    assert len(txns) == 1


def test_bad_defaults_are_refused(company: Company) -> None:
    path = f"/companies/{company.company_id}/defaults"
    for body in (
        {"currency": "BTC"},
        {"initial_balance": "-1"},
        {"budgets": [{"period_type": "DAILY", "total_amount": "1"}]},
        {"budgets": [{"period_type": "MONTHLY", "total_amount": "0"}]},
        {
            "budgets": [
                {"period_type": "MONTHLY", "total_amount": "5"},
                {"period_type": "MONTHLY", "total_amount": "6"},
            ]
        },
        {"nonsense": True},
    ):
        r = company.admin.put(path, json=body)
        assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", (body, r.text)


def test_user_cannot_move_company(company: Company, base_url: str) -> None:
    alice = company.member()
    other = Company(base_url)
    r = other.system.post(
        "/events",
        json={
            "event_type": "UserCreated",
            "data": {"user_id": str(alice.user_id), "company_id": str(other.company_id)},
        },
    )
    assert r.status_code == 422
    assert company.admin.get(f"/wallets/{alice.user_id}").status_code == 200


def test_initial_balance_keeps_its_cents(company: Company) -> None:
    body = company.set_defaults(initial_balance="12.34")
    assert body["initial_balance"] == "12.34"
    alice = company.member()
    assert alice.wallet is not None and alice.wallet["balance"] == "12.34"
    assert (
        company.set_defaults(initial_balance="3000000000.50")["initial_balance"] == "3000000000.50"
    )


def test_a_user_cannot_be_their_own_manager(company: Company) -> None:
    user_id = str(uuid.uuid4())
    r = company.system.post(
        "/events",
        json={
            "event_type": "UserCreated",
            "data": {
                "user_id": user_id,
                "company_id": str(company.company_id),
                "manager_id": user_id,
            },
        },
    )
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", r.text
