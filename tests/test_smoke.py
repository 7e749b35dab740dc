"""The service starts on real PostgreSQL and answers its operational endpoints."""

from tests.support import Company


def test_health_and_ready(company: Company) -> None:
    assert company.system.get("/health").json() == {"status": "ok"}
    r = company.system.get("/ready")
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


def test_credit_then_debit_moves_the_balance(company: Company) -> None:
    alice = company.member(balance="100.00")
    r = company.debit(alice.wallet_id, "30.25")
    assert r.status_code == 201, r.text
    assert r.json()["balance_after"] == "69.75"
    assert company.wallet(alice)["balance"] == "69.75"
