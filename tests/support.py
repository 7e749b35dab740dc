"""Test helpers: tokens, an HTTP client per caller, and a "company" factory that registers users
through the real API (POST /events UserCreated) so every test builds its own isolated tenant."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import jwt

TEST_SECRET = "test-secret-for-the-wallet-service-suite-0123456789"


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
    ) -> Member:
        """Register a user through UserCreated (which opens their wallet by default) and, when
        `balance` is given, credit it."""
        user_id = uuid.uuid4()
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
        wallet = r.json()["result"]
        m = Member(user_id, self.company_id, role, self.api_as(role, user_id), wallet)
        if balance is not None and Decimal(str(balance)) > 0:
            self.credit(m.wallet_id, balance)
            m.wallet = self.wallet(m)
        return m

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


# --- helpers for transfers and holds (issue 5) ---


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
        params: dict[str, Any] = {"limit": 1000}
        if after:
            params["after"] = after
        r = company.admin.get("/events", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += [e["data"] for e in body["events"] if e["event_type"] == event_type]
        if not body["events"]:
            return out
        after = body["next"]
