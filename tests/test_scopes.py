"""Authorization: every endpoint checks the caller's role and scope, and a company never sees
another company's data (reported as not found, so even existence does not leak)."""

from __future__ import annotations

import uuid

from tests.support import Company


def test_user_reads_only_their_own_wallet(company: Company) -> None:
    alice = company.member(balance="10.00")
    bob = company.member()
    assert alice.api.get(f"/wallets/{alice.user_id}").status_code == 200
    assert alice.api.get(f"/wallets/{alice.wallet_id}/transactions").status_code == 200
    r = alice.api.get(f"/wallets/{bob.user_id}")
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    assert alice.api.get(f"/wallets/{bob.wallet_id}/transactions").status_code == 403


def test_user_is_read_only(company: Company) -> None:
    alice = company.member(balance="10.00")
    other = company.member(with_wallet=False)
    for r in (
        alice.api.post("/wallets", json={"user_id": str(other.user_id)}),
        alice.api.put(f"/wallets/{alice.wallet_id}/status", json={"status": "FROZEN"}),
        alice.api.post(
            f"/wallets/{alice.wallet_id}/transactions", json={"amount": "1", "type": "CREDIT"}
        ),
        alice.api.get("/wallets"),
        alice.api.get("/events"),
        alice.api.get(f"/companies/{company.company_id}/defaults"),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "FORBIDDEN"
    assert company.wallet(alice)["status"] == "ACTIVE"


def test_manager_sees_own_and_team_only(company: Company) -> None:
    boss = company.member("MANAGER")
    report = company.member(manager=boss, balance="5.00")
    stranger = company.member()
    assert boss.api.get(f"/wallets/{boss.user_id}").status_code == 200
    assert boss.api.get(f"/wallets/{report.user_id}").status_code == 200
    assert boss.api.get(f"/wallets/{stranger.user_id}").status_code == 403
    listed = boss.api.get("/wallets").json()
    assert {w["user_id"] for w in listed["wallets"]} == {str(boss.user_id), str(report.user_id)}
    assert listed["pagination"]["total"] == 2
    txn_id = company.debit(report.wallet_id, "1.00").json()["txn_id"]
    assert boss.api.get(f"/transactions/{txn_id}").status_code == 200
    assert stranger.api.get(f"/transactions/{txn_id}").status_code == 403


def test_manager_manages_team_wallets_only(company: Company) -> None:
    boss = company.member("MANAGER")
    report = company.member(manager=boss)
    stranger = company.member()
    r = boss.api.put(f"/wallets/{report.wallet_id}/status", json={"status": "FROZEN"})
    assert r.status_code == 200, r.text
    assert (
        boss.api.put(f"/wallets/{stranger.wallet_id}/status", json={"status": "FROZEN"}).status_code
        == 403
    )
    newcomer = company.member(manager=boss, with_wallet=False)
    assert boss.api.post("/wallets", json={"user_id": str(newcomer.user_id)}).status_code == 201
    outsider = company.member(with_wallet=False)
    assert boss.api.post("/wallets", json={"user_id": str(outsider.user_id)}).status_code == 403
    assert (
        boss.api.post(
            f"/wallets/{report.wallet_id}/transactions", json={"amount": "1", "type": "CREDIT"}
        ).status_code
        == 403
    )
    r = boss.api.put(f"/wallets/{boss.wallet_id}/status", json={"status": "FROZEN"})
    assert r.status_code == 403, "a manager does not manage their own wallet"


def test_admin_sees_their_company_only(company: Company, base_url: str) -> None:
    alice = company.member(balance="3.00")
    other = Company(base_url)
    eve = other.member(balance="7.00")
    assert company.admin.get(f"/wallets/{alice.user_id}").status_code == 200
    for r, code in (
        (company.admin.get(f"/wallets/{eve.user_id}"), "WALLET_NOT_FOUND"),
        (company.admin.get(f"/wallets/{eve.wallet_id}/transactions"), "WALLET_NOT_FOUND"),
        (
            company.admin.put(f"/wallets/{eve.wallet_id}/status", json={"status": "FROZEN"}),
            "WALLET_NOT_FOUND",
        ),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["code"] == code
    txn_id = other.debit(eve.wallet_id, "1.00").json()["txn_id"]
    r = company.admin.get(f"/transactions/{txn_id}")
    assert r.status_code == 404 and r.json()["code"] == "TRANSACTION_NOT_FOUND"
    ids = {w["user_id"] for w in company.admin.get("/wallets?limit=100").json()["wallets"]}
    assert str(alice.user_id) in ids and str(eve.user_id) not in ids
    newcomer = other.member(with_wallet=False)
    r = company.admin.post("/wallets", json={"user_id": str(newcomer.user_id)})
    assert r.status_code == 404 and r.json()["code"] == "USER_NOT_FOUND"


def test_admin_event_feed_is_company_scoped(company: Company, base_url: str) -> None:
    other = Company(base_url)
    eve = other.member(balance="7.00")
    company.member(balance="1.00")
    events = company.events()["events"]
    assert events, "the admin sees their own company's events"
    assert all(e["data"].get("wallet_id") != eve.wallet_id for e in events)


def test_company_defaults_are_for_their_admin_and_system(company: Company, base_url: str) -> None:
    path = f"/companies/{company.company_id}/defaults"
    assert company.admin.get(path).status_code == 200
    assert company.system.get(path).status_code == 200
    assert company.api_as("MANAGER").get(path).status_code == 403
    other = Company(base_url)
    r = other.admin.put(path, json={"currency": "EUR"})
    assert r.status_code == 403
    assert company.admin.get(path).json()["currency"] == "USD"


def test_system_reaches_every_company(company: Company, base_url: str) -> None:
    other = Company(base_url)
    eve = other.member(balance="2.00")
    assert company.system.get(f"/wallets/{eve.user_id}").status_code == 200


def test_unknown_ids_are_not_found(company: Company) -> None:
    assert company.system.get(f"/wallets/{uuid.uuid4()}").json()["code"] == "WALLET_NOT_FOUND"
    assert (
        company.system.get(f"/transactions/{uuid.uuid4()}").json()["code"]
        == "TRANSACTION_NOT_FOUND"
    )
    r = company.system.post(
        f"/wallets/{uuid.uuid4()}/transactions", json={"amount": "1", "type": "CREDIT"}
    )
    assert r.status_code == 404 and r.json()["code"] == "WALLET_NOT_FOUND"
