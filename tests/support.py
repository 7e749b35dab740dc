"""Test helpers: tokens, an HTTP client per caller, and a "company" factory that registers users
through the real API (POST /events UserCreated) so every test builds its own isolated tenant."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import jwt
import psycopg
import uvicorn

from wallet_service.config import Settings
from wallet_service.limits import http_protocol

TEST_SECRET = "test-secret-for-the-wallet-service-suite-0123456789-abcdefghijklmnopqrstuvwxyz"


def token(
    role: str,
    *,
    company_id: uuid.UUID | None = None,
    sub: uuid.UUID | None = None,
    ttl: int = 3600,
    secret: str = TEST_SECRET,
    **extra: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(sub or uuid.uuid4()),
        "role": role,
        "iat": now,
        "exp": now + ttl,
    }
    if company_id is not None:
        claims["company_id"] = str(company_id)
    claims.update(extra)
    return jwt.encode(claims, secret, algorithm="HS256")


class Api:
    """An httpx client against the live test server, with one caller's token."""

    def __init__(self, base_url: str, bearer: str | None):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=60)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.client.put(path, json=json, **kw)


@dataclass
class Member:
    """A registered user of a test company, with their wallet (if any) and an Api as themselves."""

    user_id: uuid.UUID
    company_id: uuid.UUID
    role: str
    api: Api
    wallet: dict[str, Any] | None = None

    @property
    def wallet_id(self) -> str:
        assert self.wallet is not None, "this member has no wallet"
        return str(self.wallet["wallet_id"])


@dataclass
class Company:
    """A fresh tenant. `system` is an Api with a SYSTEM token; `admin` an ADMIN of this company."""

    base_url: str
    company_id: uuid.UUID = field(default_factory=uuid.uuid4)
    #: the test database, so feed reads can first wait for in-flight transactions (see events())
    database_url: str | None = None

    def __post_init__(self) -> None:
        self.system = Api(self.base_url, token("SYSTEM"))
        self.admin_id = uuid.uuid4()
        self.admin = Api(
            self.base_url, token("ADMIN", company_id=self.company_id, sub=self.admin_id)
        )

    def api_as(self, role: str, sub: uuid.UUID | None = None) -> Api:
        return Api(self.base_url, token(role, company_id=self.company_id, sub=sub))

    def member(
        self,
        role: str = "USER",
        *,
        manager: Member | None = None,
        balance: Decimal | str | None = None,
        with_wallet: bool = True,
    ) -> Member:
        """Register a user through UserCreated (which opens their wallet by default) and, when
        `balance` is given, credit it. `with_wallet=False` registers the user without a wallet."""
        user_id = uuid.uuid4()
        if not with_wallet:
            self.set_defaults(auto_create_wallet=False)
        r = self.system.post(
            "/events",
            json={
                "event_id": str(uuid.uuid4()),
                "event_type": "UserCreated",
                "data": {
                    "user_id": str(user_id),
                    "email": f"{user_id.hex[:8]}@example.com",
                    "company_id": str(self.company_id),
                    "role": role,
                    "manager_id": str(manager.user_id) if manager else None,
                },
            },
        )
        assert r.status_code == 200, r.text
        if not with_wallet:
            self.set_defaults(auto_create_wallet=True)
        wallet = r.json()["result"]
        m = Member(user_id, self.company_id, role, self.api_as(role, user_id), wallet)
        if balance is not None and Decimal(str(balance)) > 0:
            self.credit(m.wallet_id, balance)
            m.wallet = self.wallet(m)
        return m

    def events(self, after: str | None = None, limit: int = 1000) -> dict[str, Any]:
        """One page of the company's feed (GET /events as its ADMIN)."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        r = self.admin.get("/events", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def set_defaults(self, **defaults: Any) -> dict[str, Any]:
        r = self.admin.put(f"/companies/{self.company_id}/defaults", json=defaults)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def credit(self, wallet_id: str, amount: Decimal | str, **extra: Any) -> httpx.Response:
        r = self.system.post(
            f"/wallets/{wallet_id}/transactions",
            json={"amount": str(amount), "type": "CREDIT", **extra},
        )
        assert r.status_code == 201, r.text
        return r

    def debit(self, wallet_id: str, amount: Decimal | str, **kw: Any) -> httpx.Response:
        return self.system.post(
            f"/wallets/{wallet_id}/transactions",
            json={"amount": str(amount), "type": "DEBIT"},
            **kw,
        )

    def wallet(self, member: Member) -> dict[str, Any]:
        r = self.system.get(f"/wallets/{member.user_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def event(
        self, event_type: str, data: dict[str, Any], event_id: str | bool | None = True
    ) -> httpx.Response:
        """POST /events as SYSTEM; event_id=True makes a fresh one, None sends none."""
        body: dict[str, Any] = {"event_type": event_type, "data": data}
        if event_id is True:
            body["event_id"] = str(uuid.uuid4())
        elif event_id:
            body["event_id"] = event_id
        return self.system.post("/events", json=body)

    def transactions(self, member: Member, **params: Any) -> list[dict[str, Any]]:
        r = self.system.get(
            f"/wallets/{member.wallet_id}/transactions", params={"limit": 100, **params}
        )
        assert r.status_code == 200, r.text
        txns: list[dict[str, Any]] = r.json()["transactions"]
        return txns


def booking(member: Member, amount: str, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    """BookingCreated data for a fresh booking of `member`."""
    return {
        "booking_id": f"BK-{uuid.uuid4().hex[:12]}",
        "user_id": str(member.user_id),
        "amount": amount,
        "currency": currency,
        **extra,
    }


def settle(database_url: str, timeout: float = 10.0) -> None:
    """Wait until no other session of the database has a transaction with an id in flight."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        wait_for(
            lambda: (
                conn.execute(
                    """SELECT count(*) = 0 FROM pg_stat_activity
                   WHERE datname = current_database() AND backend_xid IS NOT NULL
                     AND pid <> pg_backend_pid()"""
                ).fetchone()
                == (True,)
            ),
            timeout=timeout,
            every=0.02,
        )


def with_database(url: str, name: str) -> str:
    """The same server URL (TCP or the embedded server's socket) with another database name."""
    base, _, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app (its lifespan included) on a free local port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", http=http_protocol(Settings())
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(f"{url}/health"), timeout=30, every=0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def answers(url: str) -> bool:
    """True when `url` answers 200 (a server that is not listening yet is just not ready)."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Any, timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll `check()` until it returns something truthy; returns it, or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        time.sleep(every)


# --- helpers for transfers and holds ---


def hold(company: Company, wallet_id: str, amount: Decimal | str, **extra: Any) -> httpx.Response:
    """POST /wallets/{wallet_id}/holds as SYSTEM (extra: body fields, or headers=...)."""
    headers = extra.pop("headers", None)
    return company.system.post(
        f"/wallets/{wallet_id}/holds", json={"amount": str(amount), **extra}, headers=headers
    )


def set_status(company: Company, wallet_id: str, status: str) -> None:
    r = company.system.put(f"/wallets/{wallet_id}/status", json={"status": status})
    assert r.status_code == 200, r.text


def published(company: Company, event_type: str) -> list[dict[str, Any]]:
    """The `data` of every event of this type published for the company, through GET /events."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        body = company.events(after)
        out += [e["data"] for e in body["events"] if e["event_type"] == event_type]
        if not body["events"]:
            return out
        after = body["next"]
