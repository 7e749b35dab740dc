"""USER_SERVICE_URL: a user unknown here is fetched from the user-management service (a real
local HTTP server that fails on purpose), with timeouts, retries with backoff and a circuit
breaker; when it cannot answer the request is a 503 that changed nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import Company, serve_in_thread
from wallet_service.app import create_app
from wallet_service.config import Settings
from wallet_service.errors import ServiceUnavailable
from wallet_service.users.client import Policy, UserDirectory


def _booking(user_id: uuid.UUID, amount: str) -> dict[str, Any]:
    return {
        "booking_id": uuid.uuid4().hex,
        "user_id": str(user_id),
        "amount": amount,
        "currency": "USD",
    }


class FakeUserService:
    """GET /users/{id}: answers scripted per user (a list of statuses, the last one repeating);
    200 answers the registered user, anything else an error. Counts the calls."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.script: dict[str, list[int]] = {}
        self.delay = 0.0
        self.calls: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                user_id = self.path.rsplit("/", 1)[-1]
                fake.calls.append(user_id)
                time.sleep(fake.delay)
                steps = fake.script.get(user_id, [200])
                status = steps.pop(0) if len(steps) > 1 else steps[0]
                if status == 200 and user_id not in fake.users:
                    status = 404
                payload = json.dumps(fake.users.get(user_id, {}) if status == 200 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, company: Company, *steps: int) -> uuid.UUID:
        user_id = uuid.uuid4()
        self.users[str(user_id)] = {
            "user_id": str(user_id),
            "email": "remote@example.com",
            "company_id": str(company.company_id),
            "role": "USER",
        }
        if steps:
            self.script[str(user_id)] = list(steps)
        return user_id


@pytest.fixture
def user_service() -> Iterator[FakeUserService]:
    fake = FakeUserService()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def service(settings: Settings, user_service: FakeUserService) -> Iterator[Company]:
    """The service with USER_SERVICE_URL set (its own breaker per test), as a Company client."""
    app = create_app(dataclasses.replace(settings, user_service_url=user_service.url))
    with serve_in_thread(app) as url:
        yield Company(url)


def test_unknown_user_is_fetched_and_gets_a_wallet(
    service: Company, user_service: FakeUserService
) -> None:
    user_id = user_service.add(service)
    r = service.admin.post("/wallets", json={"user_id": str(user_id), "initial_balance": "5.00"})
    assert r.status_code == 201, r.text
    assert r.json()["balance"] == "5.00"
    assert service.system.get(f"/wallets/{user_id}").status_code == 200


def test_server_errors_are_retried_with_backoff(
    service: Company, user_service: FakeUserService
) -> None:
    user_id = user_service.add(service, 500, 503, 200)
    r = service.admin.post("/wallets", json={"user_id": str(user_id)})
    assert r.status_code == 201, r.text
    assert user_service.calls.count(str(user_id)) == 3


def test_a_user_the_service_does_not_know_is_not_found(
    service: Company, user_service: FakeUserService
) -> None:
    r = service.admin.post("/wallets", json={"user_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["code"] == "USER_NOT_FOUND"


def test_a_failing_service_opens_the_breaker_and_changes_nothing(
    service: Company, user_service: FakeUserService
) -> None:
    user_id = user_service.add(service, 500)
    for _ in range(2):  # 3 attempts each: the 5th failure opens the circuit
        r = service.admin.post("/wallets", json={"user_id": str(user_id)})
        assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE", r.text
    calls = len(user_service.calls)
    started = time.monotonic()
    r = service.admin.post("/wallets", json={"user_id": str(user_id)})
    assert r.status_code == 503 and "circuit open" in r.json()["detail"]
    assert len(user_service.calls) == calls, "an open circuit does not call the service"
    assert time.monotonic() - started < 1
    assert service.system.get(f"/wallets/{user_id}").status_code == 404


def test_events_naming_an_unknown_user_fetch_them_too(
    service: Company, user_service: FakeUserService
) -> None:
    user_id = user_service.add(service)
    member = service.api_as("USER", user_id)
    data = _booking(user_id, "3.00")
    r = service.event("BookingCreated", data)
    assert r.status_code == 200, r.text
    # registered as UserCreated would have (a wallet with the company defaults: 0.00 USD)
    assert r.json()["result"]["failure_code"] == "INSUFFICIENT_FUNDS"
    assert member.get(f"/wallets/{user_id}").json()["balance"] == "0.00"


def test_events_while_the_service_is_down_are_503_and_change_nothing(
    service: Company, user_service: FakeUserService
) -> None:
    user_id = user_service.add(service, 502)
    data = _booking(user_id, "3.00")
    r = service.event("BookingCreated", data)
    assert r.status_code == 503 and r.json()["code"] == "SERVICE_UNAVAILABLE"
    assert service.system.get(f"/wallets/{user_id}").status_code == 404


def test_slow_answers_time_out(user_service: FakeUserService) -> None:
    company = Company("http://unused")
    user_id = user_service.add(company)
    user_service.delay = 0.5
    directory = UserDirectory(user_service.url, Policy(timeout_s=0.1, attempts=2, backoff_s=0.01))

    async def go() -> None:
        try:
            with pytest.raises(ServiceUnavailable):
                await directory.fetch(user_id)
        finally:
            await directory.aclose()

    asyncio.run(go())
    assert user_service.calls.count(str(user_id)) == 2
