"""`wallet-service demo`: a populated company whose tokens open the dashboard and whose history
the reports and statements tell consistently."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.support import TEST_SECRET, Api


def test_demo_seeds_a_company_and_prints_working_tokens(base_url: str, database_url: str) -> None:
    env = dict(os.environ, DATABASE_URL=database_url, JWT_SECRET=TEST_SECRET, PORT="3999")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wallet_service",
            "demo",
            "--weeks",
            "5",
            "--team",
            "3",
            "--seed",
            "4",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[##############################]" in done.stderr  # the progress bar reached its end
    assert "http://localhost:3999/dashboard" in done.stdout
    tokens = dict(re.findall(r"(MANAGER|ADMIN) token[^\n]*:\n(\S+)", done.stdout))
    manager, admin = Api(base_url, tokens["MANAGER"]), Api(base_url, tokens["ADMIN"])

    dashboard = manager.get("/dashboard/overview")
    assert dashboard.status_code == 200 and "MANAGER" in dashboard.text

    people = admin.get("/wallets", params={"limit": 100}).json()["wallets"]
    assert len(people) == 1 + 1 + 3 + 2  # admin, manager, team, two colleagues
    team = manager.get("/wallets", params={"limit": 100}).json()["wallets"]
    assert len(team) == 1 + 3

    months = admin.get("/reports/spend", params={"group_by": "month", "from": "2000-01-01"}).json()
    assert months["rows"]
    (usd,) = months["totals"]
    assert Decimal(usd["spent"]) > 0 and usd["count"] > 10
    by_type = admin.get(
        "/reports/spend", params={"group_by": "reference_type", "from": "2000-01-01"}
    )
    (bookings,) = [r for r in by_type.json()["rows"] if r["key"] == "BOOKING"]
    assert Decimal(bookings["refunded"]) > 0

    budgets = admin.get("/reports/budgets").json()["budgets"]
    assert len(budgets) == 1 + 3 + 2
    assert any(Decimal(b["used_amount"]) > 0 for b in budgets)

    for wallet in team:
        s = admin.get(
            f"/wallets/{wallet['wallet_id']}/statement", params={"from": "2000-01-01"}
        ).json()
        assert s["closing_balance"] == wallet["balance"]
        assert Decimal(s["opening_balance"]) + Decimal(s["total_credits"]) - Decimal(
            s["total_debits"]
        ) == Decimal(s["closing_balance"])
        balances = [e["balance_after"] for e in s["entries"]]
        assert balances and balances[-1] == wallet["balance"]
        funded = datetime.fromisoformat(s["entries"][0]["posted_at"])  # the allowance, 5 weeks ago
        assert datetime.now(UTC) - funded >= timedelta(weeks=5)
