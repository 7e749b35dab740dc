"""Bad input is a 422 VALIDATION_ERROR in problem+json that says what is wrong; nothing a client
sends gives a 500, and no rejected request changes a balance."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.support import Company
from wallet_service.app import ROUTERS
from wallet_service.wire import ExactJsonRoute

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


@pytest.mark.parametrize("body", [b"1.5", b"-1.0330704581943573e-276", b"7", b'"x"', b"[]"])
def test_a_body_that_is_not_an_object_changes_nothing(company: Company, body: bytes) -> None:
    """Every field of the defaults is optional, so a body that is not an object must not pass as
    an empty update (it would still record who last set the defaults)."""
    before = company.admin.get(f"/companies/{company.company_id}/defaults").json()
    r = company.admin.client.put(
        f"/companies/{company.company_id}/defaults",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert company.admin.get(f"/companies/{company.company_id}/defaults").json() == before


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


LENIENT_AMOUNTS = [
    "1_000",
    "\uff11\uff10\uff10",  # fullwidth digits
    "\u0661\u0660",  # Arabic-Indic digits
    "1e2",
    "1E-2",
    " 1.00",
    "1.00 ",
    "1.00\n",
    "\t1.00",
    "+1.00",
    "1.",
    ".50",
    "1.000",
    "1,00",
    "0x10",
]


@pytest.mark.parametrize("amount", LENIENT_AMOUNTS, ids=[repr(a) for a in LENIENT_AMOUNTS])
def test_amount_strings_must_be_plain_decimals(company: Company, amount: str) -> None:
    alice = company.member(balance="2000.00")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions", json={"amount": amount, "type": "DEBIT"}
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "amount"]
    assert company.wallet(alice)["balance"] == "2000.00"


@pytest.mark.parametrize(
    "raw", ["1.0000000000000001", "0.10000000000000001", "1.000", "1.001", "NaN", "Infinity"]
)
def test_amount_numbers_are_read_exactly(company: Company, raw: str) -> None:
    """The JSON number is judged as written: 1.0000000000000001 has 16 decimals, even though a
    float would read it as 1.0."""
    alice = company.member(balance="10.00")
    r = company.system.client.post(
        f"/wallets/{alice.wallet_id}/transactions",
        content=f'{{"amount": {raw}, "type": "DEBIT"}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert company.wallet(alice)["balance"] == "10.00"


def test_amount_numbers_with_two_decimals_are_exact(company: Company) -> None:
    alice = company.member(balance="100.00")
    for raw, expected in (("12.34", "12.34"), ("0.1", "0.10"), ("5", "5.00"), ("1.10", "1.10")):
        r = company.system.client.post(
            f"/wallets/{alice.wallet_id}/transactions",
            content=f'{{"amount": {raw}, "type": "DEBIT"}}'.encode(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["amount"] == expected
    assert company.wallet(alice)["balance"] == "81.46"


def test_negative_zero_is_stored_and_sent_as_zero(company: Company, sql: Any) -> None:
    defaults = company.set_defaults(initial_balance="-0.00")
    assert defaults["initial_balance"] == "0.00"
    bob = company.member()  # opened with the company's default initial balance
    alice = company.member(with_wallet=False)
    r = company.admin.client.post(
        "/wallets",
        content=f'{{"user_id": "{alice.user_id}", "initial_balance": -0.0}}'.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == "0.00"
    carol = company.member(with_wallet=False)
    r = company.admin.post(
        "/wallets", json={"user_id": str(carol.user_id), "initial_balance": "-0"}
    )
    assert r.status_code == 201, r.text
    created = [e for e in company.events()["events"] if e["event_type"] == "WalletCreated"]
    assert [e["data"]["initial_balance"] for e in created] == ["0.00"] * 3
    stored = sql.execute(
        "SELECT data::text FROM outbox WHERE company_id = %s", (str(company.company_id),)
    ).fetchall()
    stored += sql.execute(
        "SELECT initial_balance::text FROM company_defaults WHERE company_id = %s",
        (str(company.company_id),),
    ).fetchall()
    assert not any('"-0' in text or text.startswith("-0") for (text,) in stored), stored
    assert bob.wallet is not None and bob.wallet["balance"] == "0.00"


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


HOSTILE_METADATA = {
    "int above 64 bits": '{"n": 18446744073709551616}',
    "int below 64 bits": '{"n": -9223372036854775809}',
    "lone surrogate": '{"note": "\\ud800"}',
    "lone surrogate key": '{"\\udfff": 1}',
    "nested lone surrogate": '{"a": [{"b": "\\udbff"}]}',
    "NUL": '{"note": "a\\u0000b"}',
    "nested 256 deep": _nested(256),
    "nested 17 deep": _nested(17),
    "over 16 KiB": '{"blob": "' + "x" * 17000 + '"}',
    "number out of range": '{"f": 1e400}',
}


@pytest.mark.parametrize("metadata", HOSTILE_METADATA.values(), ids=HOSTILE_METADATA.keys())
@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_metadata_is_bounded(company: Company, metadata: str, keyed: bool) -> None:
    alice = company.member(balance="10.00")
    headers = {"content-type": "application/json"}
    if keyed:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    r = company.system.client.post(
        f"/wallets/{alice.wallet_id}/transactions",
        content=f'{{"amount": "1.00", "type": "CREDIT", "metadata": {metadata}}}'.encode(),
        headers=headers,
    )
    assert r.status_code == 422, r.text[:500]
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["loc"][:2] == ["body", "metadata"], body
    assert "invalid value" not in body["detail"]
    assert company.wallet(alice)["balance"] == "10.00"


def test_metadata_within_bounds_is_kept_as_sent(company: Company) -> None:
    alice = company.member()
    metadata = {
        "trip": {"legs": [{"from": "BLR", "to": "CDG", "fare": 412.5}], "smile": "\U0001f600"},
        "max": 9223372036854775807,
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": 1}}}}}}}}}}},
    }
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={"amount": "1.00", "type": "CREDIT", "metadata": metadata},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    assert r.json()["metadata"] == metadata
    assert company.system.get(f"/transactions/{r.json()['txn_id']}").json()["metadata"] == metadata


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "Idempotency-Key"])
def test_text_must_be_valid_unicode(company: Company, keyed: bool) -> None:
    alice = company.member(balance="10.00")
    headers = {"content-type": "application/json"}
    if keyed:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    r = company.system.client.post(
        f"/wallets/{alice.wallet_id}/transactions",
        content=b'{"amount": "1.00", "type": "DEBIT", "description": "caf\\udce9"}',
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "description"]
    assert company.wallet(alice)["balance"] == "10.00"


def test_a_value_the_database_refuses_is_explained(company: Company) -> None:
    alice = company.member(balance="10.00")
    r = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions",
        json={"amount": "1.00", "type": "DEBIT", "description": "a\u0000b"},
    )
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["detail"]
    assert company.wallet(alice)["balance"] == "10.00"


def test_every_route_reads_request_json_exactly() -> None:
    """Amount rules rely on numbers decoded as written (wallet_service.wire): every API route is
    an ExactJsonRoute."""
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 10 and all(isinstance(r, ExactJsonRoute) for r in routes)
