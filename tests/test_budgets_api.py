"""The budget endpoints: create, list, change, history, with the contract's roles, scopes, errors
and events."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from tests.budget_helpers import make_budget, month_of, outbox_events, today
from tests.support import Company

BUDGET_FIELDS = {
    "budget_id",
    "wallet_id",
    "total_amount",
    "used_amount",
    "remaining_amount",
    "period_type",
    "start_date",
    "end_date",
    "status",
    "enforcement",
    "alert_thresholds",
    "auto_renew",
    "created_by",
    "created_at",
    "updated_at",
}


def test_create_with_defaults_returns_the_contract_shape(company: Company) -> None:
    alice = company.member()
    r = company.admin.post(
        "/budgets",
        json={"wallet_id": alice.wallet_id, "total_amount": 500, "start_date": "2026-11-01"},
    )
    assert r.status_code == 201, r.text
    b = r.json()
    assert BUDGET_FIELDS <= b.keys()
    assert b["wallet_id"] == alice.wallet_id
    assert (b["total_amount"], b["used_amount"], b["remaining_amount"]) == (
        "500.00",
        "0.00",
        "500.00",
    )
    assert (b["period_type"], b["start_date"], b["end_date"]) == (
        "MONTHLY",
        "2026-11-01",
        "2026-11-30",
    )
    assert (b["status"], b["enforcement"], b["auto_renew"]) == ("ACTIVE", "HARD", False)
    assert b["alert_thresholds"] == [80, 100]
    assert b["created_by"] == str(company.admin_id)


@pytest.mark.parametrize(
    ("period_type", "start", "end"),
    [
        ("WEEKLY", "2026-11-04", "2026-11-10"),
        ("QUARTERLY", "2026-10-01", "2026-12-31"),
        ("YEARLY", "2026-01-01", "2026-12-31"),
    ],
)
def test_end_date_defaults_to_the_end_of_the_period(
    company: Company, period_type: str, start: str, end: str
) -> None:
    alice = company.member()
    b = make_budget(company.admin, alice, period_type=period_type, start_date=start)
    assert (b["start_date"], b["end_date"]) == (start, end)


def test_explicit_end_date_and_options_are_kept(company: Company) -> None:
    alice = company.member()
    b = make_budget(
        company.system,
        alice,
        "42.5",
        start_date="2026-11-10",
        end_date="2026-11-20",
        enforcement="SOFT",
        alert_thresholds=[100, 50],
        auto_renew=True,
    )
    assert (b["end_date"], b["total_amount"], b["enforcement"]) == ("2026-11-20", "42.50", "SOFT")
    assert b["alert_thresholds"] == [50, 100]
    assert b["auto_renew"] is True


@pytest.mark.parametrize(
    "change",
    [
        {"total_amount": "0"},
        {"total_amount": "-5.00"},
        {"total_amount": "1.001"},
        {"total_amount": "abc"},
        {"period_type": "DAILY"},
        {"enforcement": "STRICT"},
        {"end_date": "2026-10-31"},
        {"alert_thresholds": [0, 100]},
        {"alert_thresholds": [1001]},
        {"alert_thresholds": list(range(1, 12))},
        {"wallet_id": "not-a-uuid"},
        {"start_date": "yesterday"},
        {"start_date": "9999-12-15"},
        {"colour": "red"},
    ],
)
def test_invalid_bodies_are_422(company: Company, change: dict[str, Any]) -> None:
    alice = company.member()
    body = {"wallet_id": alice.wallet_id, "total_amount": "10", "start_date": "2026-11-01"}
    r = company.admin.post("/budgets", json={**body, **change})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert company.admin.get(f"/budgets/{alice.user_id}").json()["budgets"] == []


def test_second_overlapping_budget_of_a_period_type_is_409_but_other_types_coexist(
    company: Company,
) -> None:
    alice = company.member()
    monthly = make_budget(company.admin, alice, start_date="2026-11-01")
    r = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "10",
            "start_date": "2026-11-15",
            "end_date": "2026-12-15",
        },
    )
    assert r.status_code == 409
    assert r.json()["code"] == "BUDGET_OVERLAP"
    assert monthly["budget_id"] in r.json()["detail"]
    make_budget(company.admin, alice, period_type="YEARLY", start_date="2026-01-01")
    make_budget(company.admin, alice, start_date="2026-12-01")  # the next month: no overlap
    listed = company.admin.get(f"/budgets/{alice.user_id}").json()["budgets"]
    assert sorted((b["period_type"], b["start_date"]) for b in listed) == [
        ("MONTHLY", "2026-11-01"),
        ("MONTHLY", "2026-12-01"),
        ("YEARLY", "2026-01-01"),
    ]


def test_reactivating_or_extending_into_another_active_budget_is_409(company: Company) -> None:
    alice = company.member()
    first = make_budget(company.admin, alice, start_date="2026-11-01")
    r = company.admin.put(f"/budgets/{first['budget_id']}", json={"status": "SUSPENDED"})
    assert r.status_code == 200 and r.json()["status"] == "SUSPENDED"
    replacement = make_budget(company.admin, alice, start_date="2026-11-01")
    r = company.admin.put(f"/budgets/{first['budget_id']}", json={"status": "ACTIVE"})
    assert r.status_code == 409 and r.json()["code"] == "BUDGET_OVERLAP"
    assert replacement["budget_id"] in r.json()["detail"]
    later = make_budget(company.admin, alice, start_date="2026-12-01")
    r = company.admin.put(f"/budgets/{later['budget_id']}", json={"end_date": "2027-06-30"})
    assert r.status_code == 200  # no other ACTIVE monthly after December
    r = company.admin.put(f"/budgets/{replacement['budget_id']}", json={"end_date": "2026-12-05"})
    assert r.status_code == 409 and r.json()["code"] == "BUDGET_OVERLAP"
    history = company.admin.get(f"/budgets/{first['budget_id']}/history").json()["history"]
    assert history[-1]["new_status"] == "SUSPENDED"  # the refused reactivation left no trace


def test_list_shows_only_active_budgets(company: Company) -> None:
    alice = company.member()
    kept = make_budget(company.admin, alice)
    suspended = make_budget(company.admin, alice, period_type="YEARLY", start_date="2026-01-01")
    company.admin.put(f"/budgets/{suspended['budget_id']}", json={"status": "SUSPENDED"})
    listed = alice.api.get(f"/budgets/{alice.user_id}")
    assert listed.status_code == 200
    assert [b["budget_id"] for b in listed.json()["budgets"]] == [kept["budget_id"]]


def test_roles_and_scopes(company: Company, base_url: str) -> None:
    manager = company.member("MANAGER")
    team = company.member(manager=manager)
    stranger = company.member()
    body = {"total_amount": "50", "start_date": "2026-11-01"}

    r = team.api.post("/budgets", json={**body, "wallet_id": team.wallet_id})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")  # USER: read-only
    r = manager.api.post("/budgets", json={**body, "wallet_id": stranger.wallet_id})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")  # not their team
    r = manager.api.post("/budgets", json={**body, "wallet_id": team.wallet_id})
    assert r.status_code == 201
    budget = r.json()
    # "MANAGER (team)": their own budgets are set by their admin, not by themselves
    r = manager.api.post("/budgets", json={**body, "wallet_id": manager.wallet_id})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    own = company.admin.post("/budgets", json={**body, "wallet_id": manager.wallet_id}).json()
    r = manager.api.put(f"/budgets/{own['budget_id']}", json={"status": "SUSPENDED"})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    assert manager.api.get(f"/budgets/{manager.user_id}").status_code == 200

    # reading: the owner and their manager, not a colleague
    assert team.api.get(f"/budgets/{team.user_id}").status_code == 200
    assert manager.api.get(f"/budgets/{team.user_id}").status_code == 200
    assert stranger.api.get(f"/budgets/{team.user_id}").status_code == 403
    assert stranger.api.get(f"/budgets/{budget['budget_id']}/history").status_code == 403
    r = team.api.put(f"/budgets/{budget['budget_id']}", json={"total_amount": "1000"})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    assert (
        manager.api.put(f"/budgets/{budget['budget_id']}", json={"total_amount": "60"}).status_code
        == 200
    )

    # another company sees nothing, not even that these exist
    other = Company(base_url)
    r = other.admin.post("/budgets", json={**body, "wallet_id": team.wallet_id})
    assert (r.status_code, r.json()["code"]) == (404, "WALLET_NOT_FOUND")
    r = other.admin.put(f"/budgets/{budget['budget_id']}", json={"total_amount": "1"})
    assert (r.status_code, r.json()["code"]) == (404, "BUDGET_NOT_FOUND")
    r = other.admin.get(f"/budgets/{budget['budget_id']}/history")
    assert (r.status_code, r.json()["code"]) == (404, "BUDGET_NOT_FOUND")
    assert other.admin.get(f"/budgets/{team.user_id}").status_code == 404

    # unknown ids
    r = company.admin.put(f"/budgets/{uuid.uuid4()}", json={"total_amount": "1"})
    assert (r.status_code, r.json()["code"]) == (404, "BUDGET_NOT_FOUND")
    r = company.admin.post("/budgets", json={**body, "wallet_id": str(uuid.uuid4())})
    assert (r.status_code, r.json()["code"]) == (404, "WALLET_NOT_FOUND")
    r = company.admin.get(f"/budgets/{uuid.uuid4()}/history")
    assert (r.status_code, r.json()["code"]) == (404, "BUDGET_NOT_FOUND")
    assert company.admin.get("/budgets/not-a-uuid").status_code == 422
    assert (
        company.api_as("ADMIN")
        .client.get(f"/budgets/{team.user_id}", headers={"Authorization": ""})
        .status_code
        == 401
    )


def test_changes_of_total_and_status_are_kept_in_history_oldest_first(company: Company) -> None:
    alice = company.member()
    b = make_budget(company.admin, alice, "100")
    manager_sub = uuid.uuid4()
    system_like = company.api_as("ADMIN", manager_sub)
    r = system_like.put(
        f"/budgets/{b['budget_id']}", json={"total_amount": "150.50", "reason": "promotion"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["total_amount"], r.json()["remaining_amount"]) == ("150.50", "150.50")
    r = company.admin.put(
        f"/budgets/{b['budget_id']}", json={"status": "SUSPENDED", "reason": "leave"}
    )
    assert r.json()["status"] == "SUSPENDED"
    company.admin.put(f"/budgets/{b['budget_id']}", json={"end_date": "2026-12-31"})  # no row
    company.admin.put(f"/budgets/{b['budget_id']}", json={"total_amount": "150.50"})  # no change

    history = alice.api.get(f"/budgets/{b['budget_id']}/history").json()["history"]
    rows = [
        (h["old_amount"], h["new_amount"], h["old_status"], h["new_status"], h["change_reason"])
        for h in history
    ]
    assert rows == [
        (None, "100.00", None, "ACTIVE", "created"),
        ("100.00", "150.50", "ACTIVE", "ACTIVE", "promotion"),
        ("150.50", "150.50", "ACTIVE", "SUSPENDED", "leave"),
    ]
    assert [h["changed_by"] for h in history] == [
        str(company.admin_id),
        str(manager_sub),
        str(company.admin_id),
    ]
    assert {"history_id", "budget_id", "created_at"} <= history[0].keys()


def test_history_is_append_only(company: Company, sql: psycopg.Connection[Any]) -> None:
    alice = company.member()
    b = make_budget(company.admin, alice)
    for statement in (
        "UPDATE budget_history SET change_reason = 'forged' WHERE budget_id = %s",
        "DELETE FROM budget_history WHERE budget_id = %s",
    ):
        with pytest.raises(psycopg.errors.RaiseException, match="APPEND_ONLY"):
            sql.execute(statement, (b["budget_id"],))
    assert len(company.admin.get(f"/budgets/{b['budget_id']}/history").json()["history"]) == 1


def test_put_validation(company: Company) -> None:
    alice = company.member()
    b = make_budget(company.admin, alice, start_date="2026-11-01")
    path = f"/budgets/{b['budget_id']}"
    for body in (
        {},
        {"reason": "only a reason"},
        {"status": "EXPIRED"},
        {"status": "PAUSED"},
        {"total_amount": "0"},
        {"end_date": "2026-10-31"},
        {"enforcement": "SOFT"},
    ):
        r = company.admin.put(path, json=body)
        assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR"), body


def test_closed_wallet_takes_no_budget(company: Company) -> None:
    alice = company.member()
    assert (
        company.admin.put(
            f"/wallets/{alice.wallet_id}/status", json={"status": "CLOSED"}
        ).status_code
        == 200
    )
    r = company.admin.post(
        "/budgets",
        json={"wallet_id": alice.wallet_id, "total_amount": "5", "start_date": "2026-11-01"},
    )
    assert (r.status_code, r.json()["code"]) == (409, "WALLET_NOT_ACTIVE")


def test_idempotency_key_replays_and_refuses_another_body(company: Company) -> None:
    alice = company.member()
    body = {"wallet_id": alice.wallet_id, "total_amount": "10", "start_date": "2026-11-01"}
    headers = {"Idempotency-Key": f"budget-{uuid.uuid4()}"}
    first = company.admin.post("/budgets", json=body, headers=headers)
    again = company.admin.post("/budgets", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    r = company.admin.post("/budgets", json={**body, "total_amount": "11"}, headers=headers)
    assert (r.status_code, r.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert len(company.admin.get(f"/budgets/{alice.user_id}").json()["budgets"]) == 1

    path = f"/budgets/{first.json()['budget_id']}"
    put_headers = {"Idempotency-Key": f"put-{uuid.uuid4()}"}
    one = company.admin.put(path, json={"total_amount": "20"}, headers=put_headers)
    two = company.admin.put(path, json={"total_amount": "20"}, headers=put_headers)
    assert one.json() == two.json()
    assert len(company.admin.get(f"{path}/history").json()["history"]) == 2


def test_budget_events_are_published_with_the_change(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    alice = company.member()
    start = company.events()["next"]
    b = make_budget(company.admin, alice, "80")
    company.admin.put(f"/budgets/{b['budget_id']}", json={"total_amount": "90", "reason": "r"})
    feed = company.events(start)
    mine = [e for e in feed["events"] if e["data"].get("budget_id") == b["budget_id"]]
    assert [e["event_type"] for e in mine] == ["BudgetCreated", "BudgetUpdated"]
    created, updated = (e["data"] for e in mine)
    assert (created["wallet_id"], created["user_id"]) == (alice.wallet_id, str(alice.user_id))
    assert created["total_amount"] == "80.00"
    assert updated["total_amount"] == "90.00"
    assert updated["changes"]["old_amount"] == "80.00"
    assert updated["changes"]["changed_by"] == str(company.admin_id)
    # a refused change publishes nothing
    before = len(outbox_events(sql, alice.wallet_id))
    company.admin.put(f"/budgets/{b['budget_id']}", json={"total_amount": "-1"})
    make_budget_again = company.admin.post(
        "/budgets",
        json={
            "wallet_id": alice.wallet_id,
            "total_amount": "5",
            "start_date": month_of(today())[0],
        },
    )
    assert make_budget_again.status_code == 409
    assert len(outbox_events(sql, alice.wallet_id)) == before
