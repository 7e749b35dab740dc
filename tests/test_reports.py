"""GET /reports/spend and GET /reports/budgets: figures, grouping, dates, and scope (a manager's
team and themselves, an admin's company, SYSTEM naming a company, never another company)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from tests.budget_helpers import make_budget
from tests.support import Api, Company, Member, booking, hold

THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


@dataclass
class Org:
    company: Company
    manager: Member
    alice: Member  # team, USD
    bob: Member  # team, EUR
    carol: Member  # not in the team


def spend(api: Api, **params: Any) -> dict[str, Any]:
    r = api.get("/reports/spend", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def by_key(report: dict[str, Any]) -> dict[tuple[str | None, str], tuple[str, str, str, int]]:
    return {
        (row["key"], row["currency"]): (row["spent"], row["refunded"], row["net"], row["count"])
        for row in report["rows"]
    }


def org(company: Company, sql: psycopg.Connection[Any]) -> Org:
    """This month: alice books 100 and gets 40 back, debits 10; bob (EUR) books 50; carol books
    30 and a hold of 12 is captured; the manager debits 7. Not spending: transfers, funding
    credits, a refused booking, an open hold, and alice's debit of 99 dated last year."""
    manager = company.member("MANAGER", balance="100.00")
    alice = company.member(manager=manager, balance="500.00")
    company.set_defaults(currency="EUR")
    bob = company.member(manager=manager, balance="100.00")
    company.set_defaults(currency="USD")
    carol = company.member(balance="200.00")
    trip = booking(alice, "100.00")
    assert company.event("BookingCreated", trip).status_code == 200
    cancel = {
        "booking_id": trip["booking_id"],
        "user_id": str(alice.user_id),
        "refund_amount": "40",
    }
    assert company.event("BookingCancelled", cancel).status_code == 200
    assert company.debit(alice.wallet_id, "10.00").status_code == 201
    assert company.event("BookingCreated", booking(bob, "50.00", "EUR")).status_code == 200
    assert company.event("BookingCreated", booking(carol, "30.00")).status_code == 200
    held = hold(company, carol.wallet_id, "12.00").json()
    assert company.system.post(f"/transactions/{held['txn_id']}/capture").status_code == 200
    assert hold(company, carol.wallet_id, "3.00").status_code == 201  # stays open
    assert company.debit(manager.wallet_id, "7.00").status_code == 201
    r = company.admin.post(
        "/transfers",
        json={"from_wallet_id": alice.wallet_id, "to_wallet_id": carol.wallet_id, "amount": "5"},
    )
    assert r.status_code == 201
    refused = company.event("BookingCreated", booking(carol, "9999.00")).json()["result"]
    assert refused["status"] == "FAILED"
    old = company.debit(alice.wallet_id, "99.00").json()
    sql.execute(
        "UPDATE transactions SET created_at = created_at - interval '1 year',"
        " updated_at = updated_at - interval '1 year' WHERE txn_id = %s",
        (old["txn_id"],),
    )
    return Org(company, manager, alice, bob, carol)


def test_spend_by_user(company: Company, sql: psycopg.Connection[Any]) -> None:
    o = org(company, sql)
    report = spend(company.admin)
    today = datetime.now(UTC).date()
    assert report["from"] == today.replace(day=1).isoformat()
    assert report["group_by"] == "user"
    assert list(report) == ["from", "to", "group_by", "rows", "totals"]
    assert list(report["rows"][0]) == ["key", "currency", "spent", "refunded", "net", "count"]
    assert by_key(report) == {
        (str(o.alice.user_id), "USD"): ("110.00", "40.00", "70.00", 2),
        (str(o.bob.user_id), "EUR"): ("50.00", "0.00", "50.00", 1),
        (str(o.carol.user_id), "USD"): ("42.00", "0.00", "42.00", 2),
        (str(o.manager.user_id), "USD"): ("7.00", "0.00", "7.00", 1),
    }
    assert report["totals"] == [
        {"currency": "EUR", "spent": "50.00", "refunded": "0.00", "net": "50.00", "count": 1},
        {"currency": "USD", "spent": "159.00", "refunded": "40.00", "net": "119.00", "count": 5},
    ]


def test_spend_by_month_type_and_reference_type(
    company: Company, sql: psycopg.Connection[Any]
) -> None:
    org(company, sql)
    assert by_key(spend(company.admin, group_by="month")) == {
        (THIS_MONTH, "EUR"): ("50.00", "0.00", "50.00", 1),
        (THIS_MONTH, "USD"): ("159.00", "40.00", "119.00", 5),
    }
    assert by_key(spend(company.admin, group_by="type")) == {
        ("CREDIT", "USD"): ("0.00", "40.00", "-40.00", 0),
        ("DEBIT", "EUR"): ("50.00", "0.00", "50.00", 1),
        ("DEBIT", "USD"): ("159.00", "0.00", "159.00", 5),
    }
    # a refund counts under what it refunds: BOOKING_REFUND nets against BOOKING
    assert by_key(spend(company.admin, group_by="reference_type")) == {
        ("BOOKING", "EUR"): ("50.00", "0.00", "50.00", 1),
        ("BOOKING", "USD"): ("130.00", "40.00", "90.00", 2),
        (None, "USD"): ("29.00", "0.00", "29.00", 3),
    }


def test_spend_over_a_date_range(company: Company, sql: psycopg.Connection[Any]) -> None:
    o = org(company, sql)
    last_year = datetime.now(UTC).date().replace(day=1)
    last_year = last_year.replace(year=last_year.year - 1)
    report = spend(
        company.admin, **{"from": last_year.isoformat(), "to": datetime.now(UTC).date().isoformat()}
    )
    assert by_key(report)[(str(o.alice.user_id), "USD")] == ("209.00", "40.00", "169.00", 3)
    months = by_key(spend(company.admin, group_by="month", **{"from": "2000-01-01"}))
    assert months[(last_year.strftime("%Y-%m"), "USD")] == ("99.00", "0.00", "99.00", 1)
    empty = spend(company.admin, **{"from": "2001-01-01", "to": "2001-12-31"})
    assert (empty["rows"], empty["totals"]) == ([], [])
    r = company.admin.get("/reports/spend", params={"from": "2025-02-01", "to": "2025-01-31"})
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR")
    r = company.admin.get("/reports/spend", params={"group_by": "colour"})
    assert r.status_code == 422


def test_spend_scope(company: Company, sql: psycopg.Connection[Any]) -> None:
    o = org(company, sql)
    team = spend(o.manager.api)
    assert {key for key, _ in by_key(team)} == {
        str(o.alice.user_id),
        str(o.bob.user_id),
        str(o.manager.user_id),
    }
    assert {t["currency"]: t["spent"] for t in team["totals"]} == {"EUR": "50.00", "USD": "117.00"}
    # a manager without a team sees their own spending only
    loner = company.member("MANAGER", balance="10.00")
    assert company.debit(loner.wallet_id, "1.00").status_code == 201
    assert by_key(spend(loner.api)) == {(str(loner.user_id), "USD"): ("1.00", "0.00", "1.00", 1)}
    # SYSTEM names the company; ADMIN and MANAGER may name their own
    assert spend(company.system, company_id=str(company.company_id)) == spend(company.admin)
    assert spend(company.admin, company_id=str(company.company_id)) == spend(company.admin)
    r = company.system.get("/reports/spend")
    assert (r.status_code, r.json()["code"]) == (422, "VALIDATION_ERROR")
    # another company sees none of it, and cannot ask for it
    other = Company(company.base_url)
    outsider = other.member(balance="50.00")
    assert other.debit(outsider.wallet_id, "5.00").status_code == 201
    assert {k for k, _ in by_key(spend(other.admin))} == {str(outsider.user_id)}
    assert str(outsider.user_id) not in {k for k, _ in by_key(spend(company.admin))}
    for api in (other.admin, other.api_as("MANAGER")):
        r = api.get("/reports/spend", params={"company_id": str(company.company_id)})
        assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    r = o.alice.api.get("/reports/spend")  # USER
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    r = httpx.get(f"{company.base_url}/reports/spend")
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")


def test_budget_report(company: Company, sql: psycopg.Connection[Any]) -> None:
    manager = company.member("MANAGER", balance="100.00")
    alice = company.member(manager=manager, balance="500.00")
    carol = company.member(balance="500.00")
    a = make_budget(company.admin, alice, "200.00")
    c = make_budget(company.admin, carol, "100.00", enforcement="SOFT")
    m = make_budget(company.admin, manager, "300.00")
    trip = booking(alice, "90.00")
    assert company.event("BookingCreated", trip).status_code == 200
    cancel = {
        "booking_id": trip["booking_id"],
        "user_id": str(alice.user_id),
        "refund_amount": "30",
    }
    assert company.event("BookingCreated", booking(alice, "1.33")).status_code == 200
    assert company.event("BookingCancelled", cancel).status_code == 200
    assert company.debit(carol.wallet_id, "150.00").status_code == 201  # SOFT: past its total
    suspended = company.admin.put(
        f"/budgets/{m['budget_id']}", json={"status": "SUSPENDED", "reason": "r"}
    )
    assert suspended.status_code == 200

    r = company.admin.get("/reports/budgets")
    assert r.status_code == 200, r.text
    budgets = r.json()["budgets"]
    assert [b["budget_id"] for b in budgets] == [c["budget_id"], a["budget_id"]]  # most used first
    carol_b, alice_b = budgets
    assert (carol_b["used_amount"], carol_b["remaining_amount"], carol_b["utilisation_pct"]) == (
        "150.00",
        "-50.00",
        150.0,
    )
    assert (alice_b["used_amount"], alice_b["remaining_amount"], alice_b["utilisation_pct"]) == (
        "61.33",
        "138.67",
        30.67,  # 61.33 / 200 = 30.665 %, rounded half up
    )
    assert alice_b["user_id"] == str(alice.user_id) and alice_b["wallet_id"] == alice.wallet_id
    assert {k: alice_b[k] for k in ("period_type", "enforcement", "status", "total_amount")} == {
        "period_type": "MONTHLY",
        "enforcement": "HARD",
        "status": "ACTIVE",
        "total_amount": "200.00",
    }
    assert alice_b["start_date"] == a["start_date"] and alice_b["end_date"] == a["end_date"]

    team = manager.api.get("/reports/budgets").json()["budgets"]
    assert [b["budget_id"] for b in team] == [a["budget_id"]]
    paused = manager.api.get("/reports/budgets", params={"status": "SUSPENDED"}).json()
    assert [b["budget_id"] for b in paused["budgets"]] == [m["budget_id"]]

    system = company.system.get(
        "/reports/budgets", params={"company_id": str(company.company_id)}
    ).json()
    assert system == r.json()
    assert company.system.get("/reports/budgets").status_code == 422
    other = Company(company.base_url)
    assert other.admin.get("/reports/budgets").json() == {"budgets": []}
    r = other.admin.get("/reports/budgets", params={"company_id": str(company.company_id)})
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    r = alice.api.get("/reports/budgets")
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    assert company.admin.get("/reports/budgets", params={"status": "GONE"}).status_code == 422


def test_report_operations_are_documented(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json").json()
    ops = {
        op["operationId"]: (path, method)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    assert ops["get_statement"] == ("/wallets/{walletId}/statement", "get")
    assert ops["get_balance_as_of"] == ("/wallets/{walletId}/balance", "get")
    assert ops["get_spend_report"] == ("/reports/spend", "get")
    assert ops["get_budget_report"] == ("/reports/budgets", "get")
    statement = spec["paths"]["/wallets/{walletId}/statement"]["get"]
    assert "text/csv" in statement["responses"]["200"]["content"]
    for path, statuses in (
        ("/wallets/{walletId}/statement", {"401", "403", "404", "422", "429", "503"}),
        ("/wallets/{walletId}/balance", {"401", "403", "404", "422", "429", "503"}),
        ("/reports/spend", {"401", "403", "422", "429", "503"}),
        ("/reports/budgets", {"401", "403", "422", "429", "503"}),
    ):
        answers = spec["paths"][path]["get"]["responses"]
        assert statuses <= set(answers) - {"200"}, path  # plus what every operation answers
        assert all("application/problem+json" in answers[s]["content"] for s in statuses)
    assert {p["name"] for p in statement["parameters"]} >= {"from", "to", "format"}
