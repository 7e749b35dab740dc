"""Bad input is a 422 VALIDATION_ERROR in problem+json that says what is wrong; nothing a client
sends gives a 500, and no rejected request changes a balance."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import Company

BAD_AMOUNTS = [
    "0",
    "0.00",
    "-5.00",
    "1.001",
    "12.345",
    "abc",
    "",
    "NaN",
    "Infinity",
    "1e20",
    "99999999999999.00",
    1e308,
    -1,
    0,
    True,
    None,
    [],
    {"value": 1},
    "9" * 5000,
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=[repr(a)[:20] for a in BAD_AMOUNTS])
def test_bad_amounts(company: Company, amount: object) -> None:
    alice = company.member(balance="10.00")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions", json={"amount": amount, "type": "DEBIT"}
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["loc"][-1] == "amount" for e in body["errors"])
    assert company.wallet(alice)["balance"] == "10.00"


def test_amount_as_number_is_exact(company: Company) -> None:
    alice = company.member(balance="1.00")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions", json={"amount": 0.1, "type": "DEBIT"}
    )
    assert r.json()["amount"] == "0.10"
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions", json={"amount": 0.2, "type": "DEBIT"}
    )
    assert r.json()["balance_after"] == "0.70"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "1.00", "type": "REFUND"},
        {"amount": "1.00"},
        {"type": "DEBIT"},
        {"amount": "1.00", "type": "DEBIT", "unexpected": 1},
        {"amount": "1.00", "type": "DEBIT", "reference_id": "x" * 101},
        {"amount": "1.00", "type": "DEBIT", "metadata": "not an object"},
        [],
        "just a string",
    ],
)
def test_bad_transaction_bodies(company: Company, body: object) -> None:
    alice = company.member(balance="10.00")
    r = company.system.post(f"/wallets/{alice.wallet_id}/transactions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert company.wallet(alice)["balance"] == "10.00"


def test_malformed_json(company: Company) -> None:
    alice = company.member()
    r = company.system.client.post(
        f"/wallets/{alice.wallet_id}/transactions",
        content=b'{"amount": "1.00", "type": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert "JSON" in r.json()["detail"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/wallets/not-a-uuid"),
        ("GET", "/wallets/00000000-0000-0000-0000-00000000000g/transactions"),
        ("PUT", "/wallets/xyz/status"),
        ("GET", "/companies/acme/defaults"),
    ],
)
def test_bad_uuids_in_paths(company: Company, method: str, path: str) -> None:
    r = company.system.client.request(method, path, json={"status": "FROZEN"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"


def test_transactions_path_takes_only_ids_and_batch(company: Company) -> None:
    """/transactions/{txnId} matches only a UUID, so /transactions/batch is not read as an id:
    GET there is 405 (POST only), and any other word names nothing (404)."""
    r = company.system.get("/transactions/batch")
    assert r.status_code == 405, r.text
    assert r.headers["allow"] == "POST"
    r = company.system.get("/transactions/123")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "page=0",
        "page=-1",
        "type=LOAN",
        "status=DONE",
        "start_date=yesterday",
        "limit=abc",
    ],
)
def test_bad_queries(company: Company, query: str) -> None:
    alice = company.member()
    r = company.system.get(f"/wallets/{alice.wallet_id}/transactions?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"


def test_bad_wallet_bodies(company: Company) -> None:
    alice = company.member(with_wallet=False)
    for body in (
        {"user_id": "nope"},
        {"user_id": str(alice.user_id), "currency": "JPY"},
        {"user_id": str(alice.user_id), "initial_balance": "-1.00"},
        {"user_id": str(alice.user_id), "initial_balance": "1.234"},
    ):
        r = company.admin.post("/wallets", json=body)
        assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", (body, r.text)
    r = company.admin.put(f"/wallets/{uuid.uuid4()}/status", json={"status": "DELETED"})
    assert r.status_code == 422


def test_unknown_route_and_method_are_problems(base_url: str) -> None:
    r = httpx.get(f"{base_url}/no/such/thing")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = httpx.delete(f"{base_url}/health")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"


def test_bad_events(company: Company) -> None:
    bodies: tuple[dict[str, Any], ...] = (
        {"event_type": "PaymentReceived", "data": {}},
        {"event_type": "UserCreated", "data": {"user_id": "x"}},
        {"event_type": "UserCreated"},
        {"data": {}},
    )
    for body in bodies:
        r = company.system.post("/events", json=body)
        assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", r.text
    r = company.system.get("/events?after=garbage")
    assert r.status_code == 422
