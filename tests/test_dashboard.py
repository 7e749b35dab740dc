"""The manager dashboard, end to end in a real browser (Playwright driving Debian's chromium;
.ci/run installs it with apt-get when it is missing), plus its headers and scope over HTTP."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.budget_helpers import make_budget
from tests.support import Company, Member, booking, token

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
THIS_MONTH = datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


class Tab:
    """One browser tab on the dashboard, recording console messages and requests."""

    def __init__(self, browser: Any, base_url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.requests: list[Any] = []
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.on("request", lambda r: self.requests.append(r))
        self.base_url = base_url
        self.page.goto(f"{base_url}/dashboard")

    def sign_in(self, bearer: str) -> None:
        self.page.fill("#token", bearer)
        self.page.click("#sign-in button[type=submit]")

    def message(self) -> str:
        """The message shown once loading is over."""
        self.page.wait_for_function(
            "() => { const m = document.getElementById('message');"
            " return !m.hidden && m.textContent !== 'Loading…'; }"
        )
        text: str = self.page.inner_text("#message")
        return text

    def storage(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(
            "() => ({session: {...sessionStorage}, local: localStorage.length,"
            " cookie: document.cookie})"
        )
        return result

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, base_url: str) -> Iterator[Tab]:
    t = Tab(browser, base_url)
    yield t
    t.close()


def team(company: Company) -> tuple[Member, Member, Member]:
    """A manager with alice in their team (a budget, a booking and its partial refund) and
    carol outside it."""
    manager = company.member("MANAGER", balance="50.00")
    alice = company.member(manager=manager, balance="400.00")
    carol = company.member(balance="80.00")
    make_budget(company.admin, alice, "200.00")
    trip = booking(alice, "170.00", description="Flight <script>alert(1)</script>")
    assert company.event("BookingCreated", trip).status_code == 200
    refund = {
        "booking_id": trip["booking_id"],
        "user_id": str(alice.user_id),
        "refund_amount": "20",
    }
    assert company.event("BookingCancelled", refund).status_code == 200
    assert company.debit(carol.wallet_id, "30.00").status_code == 201
    return manager, alice, carol


def test_a_manager_sees_their_team(tab: Tab, company: Company) -> None:
    manager, alice, carol = team(company)
    bearer = token("MANAGER", company_id=company.company_id, sub=manager.user_id)
    tab.sign_in(bearer)
    page = tab.page
    page.wait_for_selector("#spend-table")
    assert "MANAGER" in page.inner_text("#scope")

    wallets = page.eval_on_selector_all(
        "#wallets tr[data-wallet-id]", "rs => rs.map(r => r.dataset.walletId)"
    )
    assert sorted(wallets) == sorted([manager.wallet_id, alice.wallet_id])
    assert carol.wallet_id not in page.content()

    (budget_row,) = page.query_selector_all("#budgets tr[data-budget-id]")
    assert "75.00 %" in budget_row.inner_text()  # 150 of 200 used
    assert budget_row.query_selector("meter").get_attribute("value") == "75.00"

    month = page.query_selector(f"#spend-table tr[data-month='{THIS_MONTH}']")
    assert month is not None
    cells = [c.inner_text() for c in month.query_selector_all("td")]
    assert cells == [THIS_MONTH, "USD", "170.00", "20.00", "150.00", "1"]

    recent = page.inner_text("#recent")
    assert "BOOKING_REFUND" in recent and "170.00" in recent
    assert "<script>" in recent  # a description is shown as text, never run
    assert page.evaluate("() => window.alertFired === undefined")

    # the chart drew the table's figures, and pixels are on the canvas
    figures = page.evaluate(
        "() => Chart.getChart(document.getElementById('spend-chart')).data.datasets"
        ".map(d => [d.label, d.data])"
    )
    assert figures[0][0] == "Net spend (USD)"
    assert figures[0][1][-1] == 150 and len(figures[0][1]) == 6
    painted = page.evaluate(
        """() => { const c = document.getElementById('spend-chart');
                   const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
                   return [n, c.width * c.height]; }"""
    )
    assert painted[0] > 500, painted
    shot = page.locator("#spend-chart").screenshot()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 2000
    (Path(os.environ.get("TMPDIR", "/tmp")) / "dashboard-test.png").write_bytes(
        page.screenshot(full_page=True)
    )

    # the token lives in this tab's sessionStorage only, and only goes to this service
    stored = tab.storage()
    assert list(stored["session"].values()) == [bearer]
    assert (stored["local"], stored["cookie"]) == (0, "")
    assert all(r.url.startswith(tab.base_url) for r in tab.requests)
    overview = [r for r in tab.requests if r.url.endswith("/dashboard/overview")]
    assert overview and overview[-1].headers["authorization"].startswith("Bearer ")
    assert not [m for m in tab.console if "Content Security Policy" in m], tab.console

    # a reload keeps the session; signing out forgets the token
    page.reload()
    page.wait_for_selector("#spend-table")
    page.click("#sign-out")
    assert "Signed out" in tab.message()
    assert tab.storage()["session"] == {}
    assert page.query_selector("#spend-table") is None


def test_clear_messages_for_tokens_that_cannot_sign_in(tab: Tab, company: Company) -> None:
    tab.sign_in("not-a-token")
    assert re.search(r"not accepted \(.*signature.*\)\. Paste a valid token", tab.message())
    assert tab.storage()["session"] == {}
    assert tab.page.is_visible("#sign-in")

    tab.sign_in(token("ADMIN", company_id=company.company_id, ttl=-120))
    assert tab.message() == "Your token has expired. Paste a new one."
    assert tab.storage()["session"] == {}

    tab.sign_in(token("USER", company_id=company.company_id))
    assert "the dashboard is for managers and admins" in tab.message()

    tab.sign_in(token("ADMIN", company_id=company.company_id, secret="another-key-" + "x" * 40))
    assert "not accepted" in tab.message()


def test_an_admin_sees_the_company_and_nothing_else(base_url: str, company: Company) -> None:
    manager, alice, carol = team(company)
    other = Company(base_url)
    stranger = other.member(balance="9.00")

    r = company.admin.get("/dashboard/overview")
    assert r.status_code == 200
    for m in (manager, alice, carol):
        assert m.wallet_id in r.text
    assert stranger.wallet_id not in r.text
    assert "&lt;script&gt;" in r.text and "<script>" not in r.text

    assert stranger.wallet_id in other.admin.get("/dashboard/overview").text
    assert alice.wallet_id not in other.admin.get("/dashboard/overview").text

    for bearer, status in ((None, 401), (token("SYSTEM"), 403)):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        r = httpx.get(f"{base_url}/dashboard/overview", headers=headers)
        assert r.status_code == status
        assert r.headers["content-type"] == "application/problem+json"


def test_strict_content_security_policy_and_own_static_files(base_url: str) -> None:
    page = httpx.get(f"{base_url}/dashboard")
    assert page.status_code == 200
    csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "<script>" not in page.text and "style=" not in page.text
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts == ["/dashboard/static/chart.umd.min.js", "/dashboard/static/dashboard.js"]
    for path in [*scripts, "/dashboard/static/dashboard.css"]:
        r = httpx.get(f"{base_url}{path}")
        assert r.status_code == 200 and len(r.content) > 500
    assert httpx.get(f"{base_url}/dashboard/static/..%2Fapp.py").status_code == 404
    assert httpx.get(f"{base_url}/dashboard/static/chart.js-LICENSE.md").status_code == 404
