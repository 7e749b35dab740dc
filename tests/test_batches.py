"""POST /transactions/batch and ?dry_run=true: the posting engine seen from outside. Batches apply
in request order, atomic ones all or nothing, independent ones posting by posting; a dry run
answers exactly what the real posting then does, and writes nothing."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg

from tests.budget_helpers import make_budget
from tests.support import Company, published, settle


def _batch(company: Company, postings: list[dict[str, Any]], **kw: Any) -> Any:
    headers = kw.pop("headers", None)
    return company.system.post(
        "/transactions/batch", json={"postings": postings, **kw}, headers=headers
    )


def _debit(wallet_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"wallet_id": wallet_id, "amount": amount, "type": "DEBIT", **extra}


def _credit(wallet_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    return {"wallet_id": wallet_id, "amount": amount, "type": "CREDIT", **extra}


def _ledger_sum(sql: psycopg.Connection[Any], wallet_id: str) -> Decimal:
    row = sql.execute(
        """SELECT coalesce(sum(CASE WHEN type IN ('CREDIT', 'TRANSFER_IN') THEN amount
                                    ELSE -amount END), 0)
           FROM transactions WHERE wallet_id = %s AND status = 'COMPLETED'""",
        (wallet_id,),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def test_independent_batch_applies_in_order_and_refuses_alone(
    company: Company, sql: psycopg.Connection[Any], database_url: str
) -> None:
    alice, bob = company.member(balance="5.00"), company.member(balance="0.00")
    r = _batch(
        company,
        [
            _credit(alice.wallet_id, "10.00", reference_id="R-1"),
            _debit(alice.wallet_id, "15.00"),  # fits only after the credit before it
            _debit(alice.wallet_id, "0.01"),  # refused: the wallet is empty now
            _debit(bob.wallet_id, "1.00"),  # refused: bob has nothing
            _credit(bob.wallet_id, "2.50", metadata={"k": "v"}),
        ],
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3, 4]
    assert [x["status"] for x in results] == [201, 201, 409, 409, 201]
    assert [x.get("error", {}).get("code") for x in results] == [
        None,
        None,
        "INSUFFICIENT_FUNDS",
        "INSUFFICIENT_FUNDS",
        None,
    ]
    assert [x["transaction"]["balance_after"] for x in results if "transaction" in x] == [
        "15.00",
        "0.00",
        "2.50",
    ]
    assert company.wallet(alice)["balance"] == "0.00"
    assert company.wallet(bob)["balance"] == "2.50"
    assert _ledger_sum(sql, alice.wallet_id) == Decimal("0.00")
    # each applied posting is a transaction like any other, with its event
    txn = results[4]["transaction"]
    assert company.system.get(f"/transactions/{txn['txn_id']}").json()["metadata"] == {"k": "v"}
    settle(database_url)
    completed = {e["txn_id"] for e in published(company, "TransactionCompleted")}
    assert {x["transaction"]["txn_id"] for x in results if "transaction" in x} <= completed


def test_atomic_batch_is_all_or_nothing(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice, bob = company.member(balance="20.00"), company.member(balance="1.00")
    ok = _batch(
        company,
        [_debit(alice.wallet_id, "5.00"), _credit(bob.wallet_id, "5.00")],
        atomic=True,
    )
    assert ok.status_code == 201, ok.text
    assert [t["balance_after"] for t in ok.json()["transactions"]] == ["15.00", "6.00"]

    refused = _batch(
        company,
        [
            _credit(bob.wallet_id, "100.00"),
            _debit(alice.wallet_id, "1.00"),
            _debit(bob.wallet_id, "500.00"),  # more than bob will have even after the credit
            _debit(alice.wallet_id, "1.00"),
        ],
        atomic=True,
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "INSUFFICIENT_FUNDS"
    assert problem["errors"] == [{"index": 2, "code": "INSUFFICIENT_FUNDS"}]
    assert company.wallet(alice)["balance"] == "15.00", "nothing of the batch was applied"
    assert company.wallet(bob)["balance"] == "6.00"
    assert _ledger_sum(sql, bob.wallet_id) == Decimal("6.00")


def test_batch_debits_count_against_budgets(company: Company, database_url: str) -> None:
    alice = company.member(balance="500.00")
    make_budget(company.system, alice, "100.00", alert_thresholds=[50, 100])
    r = _batch(
        company,
        [
            _debit(alice.wallet_id, "60.00"),
            _debit(alice.wallet_id, "50.00"),  # 110 > 100: refused by the HARD budget
            _debit(alice.wallet_id, "40.00"),  # exactly 100
        ],
    )
    assert [x["status"] for x in r.json()["results"]] == [201, 409, 201]
    assert r.json()["results"][1]["error"]["code"] == "BUDGET_EXCEEDED"
    assert company.wallet(alice)["balance"] == "400.00"
    settle(database_url)
    crossed = [e["threshold_percentage"] for e in published(company, "BudgetExceeded")]
    assert sorted(crossed) == [50, 100]


def test_batch_validation_applies_nothing(company: Company) -> None:
    alice = company.member(balance="10.00")
    too_many = [_debit(alice.wallet_id, "0.01")] * 1001
    bodies: list[dict[str, Any]] = [
        {"postings": []},
        {"postings": too_many},
        {"postings": [_debit(alice.wallet_id, "1.00"), _debit(alice.wallet_id, "-1")]},
        {"postings": [_debit(alice.wallet_id, "1.00"), {"wallet_id": "nope", "amount": "1"}]},
        {"postings": [{**_debit(alice.wallet_id, "1.00"), "type": "TRANSFER_IN"}]},
    ]
    for body in bodies:
        r = company.system.post("/transactions/batch", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "VALIDATION_ERROR"
    assert company.wallet(alice)["balance"] == "10.00"
    valid = {"postings": [_credit(alice.wallet_id, "1.00")]}
    assert company.admin.post("/transactions/batch", json=valid).status_code == 403
    assert company.wallet(alice)["balance"] == "10.00"


def test_unknown_wallet_in_a_batch(company: Company) -> None:
    alice = company.member(balance="10.00")
    missing = str(uuid.uuid4())
    r = _batch(company, [_debit(alice.wallet_id, "1.00"), _credit(missing, "1.00")])
    assert [x["status"] for x in r.json()["results"]] == [201, 404]
    assert r.json()["results"][1]["error"]["code"] == "WALLET_NOT_FOUND"
    atomic = _batch(
        company, [_debit(alice.wallet_id, "1.00"), _credit(missing, "1.00")], atomic=True
    )
    assert atomic.status_code == 404
    assert atomic.json()["errors"] == [{"index": 1, "code": "WALLET_NOT_FOUND"}]
    assert company.wallet(alice)["balance"] == "9.00"


def test_batch_retry_with_its_key_applies_once(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="100.00")
    postings = [_debit(alice.wallet_id, "1.00") for _ in range(20)]
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: _batch(company, postings, headers=key), range(6)))
    assert {r.status_code for r in answers} == {200}
    assert len({r.text for r in answers}) == 1, "every retry answers the first answer"
    assert company.wallet(alice)["balance"] == "80.00"
    assert _ledger_sum(sql, alice.wallet_id) == Decimal("80.00")
    other = _batch(company, postings[:1], headers=key)
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_batches_racing_single_postings_never_overdraw(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    wallets = [company.member(balance="30.00") for _ in range(3)]

    def batch(i: int) -> list[int]:
        postings = [_debit(w.wallet_id, "1.00") for w in wallets] * 3
        r = _batch(company, postings[i % 3 :] + postings[: i % 3])
        assert r.status_code == 200, r.text
        return [x["status"] for x in r.json()["results"]]

    def single(i: int) -> list[int]:
        return [company.debit(wallets[i % 3].wallet_id, "1.00").status_code]

    with ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(batch if i % 2 else single, i) for i in range(60)]
        statuses = [s for f in futures for s in f.result()]
    assert statuses.count(201) == 90, "exactly the 3 x 30.00 there was"
    assert set(statuses) == {201, 409}
    for w in wallets:
        assert company.wallet(w)["balance"] == "0.00"
        assert _ledger_sum(sql, w.wallet_id) == Decimal("0.00")


def test_dry_run_answers_what_the_posting_then_does(
    company: Company, sql: psycopg.Connection[Any], database_url: str
) -> None:
    alice = company.member(balance="100.00")
    budget = make_budget(company.system, alice, "200.00", alert_thresholds=[50, 80, 100])
    settle(database_url)
    events_before = len(company.events()["events"])
    body = {"amount": "120.00", "type": "DEBIT"}
    key = {"Idempotency-Key": f"dry-{uuid.uuid4()}"}

    dry = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions?dry_run=true", json=body, headers=key
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "would_succeed": False,
        "code": "INSUFFICIENT_FUNDS",
        "detail": "Available balance is 100.00 USD; the debit needs 120.00.",
        "balance_after": "100.00",
        "available_balance_after": "100.00",
        "budgets": [
            {
                "budget_id": budget["budget_id"],
                "used_amount_after": "0.00",
                "remaining_amount_after": "200.00",
                "thresholds_crossed": [],
            }
        ],
    }

    company.credit(alice.wallet_id, "100.00")
    dry = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions?dry_run=true", json=body, headers=key
    )
    assert dry.status_code == 200
    preview = dry.json()
    assert preview["would_succeed"] is True and preview["code"] is None
    assert preview["budgets"][0]["thresholds_crossed"] == [50]
    # nothing written: no entry, no event, no idempotency record (the key is still unused)
    assert company.wallet(alice)["balance"] == "200.00"
    count = sql.execute(
        "SELECT count(*) FROM transactions WHERE wallet_id = %s", (alice.wallet_id,)
    ).fetchone()
    assert count == (2,), "the initial balance and the credit only"
    settle(database_url)
    assert len(company.events()["events"]) == events_before + 1  # the credit's event

    real = company.system.post(f"/wallets/{alice.wallet_id}/transactions", json=body, headers=key)
    assert real.status_code == 201, real.text
    assert real.json()["balance_after"] == preview["balance_after"] == "80.00"
    used = company.system.get(f"/budgets/{alice.user_id}").json()["budgets"][0]["used_amount"]
    assert used == preview["budgets"][0]["used_amount_after"] == "120.00"


def test_dry_run_of_a_missing_wallet_or_frozen_one(company: Company) -> None:
    alice = company.member(balance="10.00")
    missing = company.system.post(
        f"/wallets/{uuid.uuid4()}/transactions?dry_run=true",
        json={"amount": "1.00", "type": "CREDIT"},
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "WALLET_NOT_FOUND"
    company.system.put(f"/wallets/{alice.wallet_id}/status", json={"status": "FROZEN"})
    frozen = company.system.post(
        f"/wallets/{alice.wallet_id}/transactions?dry_run=true",
        json={"amount": "1.00", "type": "DEBIT"},
    ).json()
    assert (frozen["would_succeed"], frozen["code"]) == (False, "WALLET_NOT_ACTIVE")
    assert (
        company.admin.post(
            f"/wallets/{alice.wallet_id}/transactions?dry_run=true",
            json={"amount": "1.00", "type": "DEBIT"},
        ).status_code
        == 403
    )


def test_request_id_is_answered_and_recorded_on_the_entry(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member(balance="10.00")
    sent = f"req-{uuid.uuid4().hex}"
    r = company.debit(alice.wallet_id, "1.00", headers={"X-Request-Id": sent})
    assert r.headers["X-Request-Id"] == sent
    row = sql.execute(
        "SELECT actor_role, actor_sub, request_id FROM transactions WHERE txn_id = %s",
        (r.json()["txn_id"],),
    ).fetchone()
    assert row is not None
    assert row[0] == "SYSTEM" and row[1] is not None and row[2] == sent
    made_up = company.system.get(f"/wallets/{alice.user_id}").headers["X-Request-Id"]
    assert uuid.UUID(made_up)
    unsafe = company.system.get("/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert uuid.UUID(unsafe.headers["X-Request-Id"]), "an unusable id is replaced"
