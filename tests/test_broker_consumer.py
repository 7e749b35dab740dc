"""The service with AMQP_URL set, against the real RabbitMQ: events published to booking.events
and user.events move balances exactly as POST /events would, once however often they are
delivered; poison messages reach wallet-service.dlq while good ones keep flowing; what the
service does is published on wallet.events; /ready reports the broker."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.broker import Tap, body, envelope, publish, require_broker
from tests.support import Company, booking, serve_in_thread, wait_for
from wallet_service.app import create_app
from wallet_service.config import Settings


@pytest.fixture(scope="module")
def amqp_service(settings: Settings) -> Iterator[str]:
    """The service with relay and consumer running (serve with AMQP_URL), on the test database."""
    url = require_broker()
    with serve_in_thread(create_app(dataclasses.replace(settings, amqp_url=url))) as base:
        wait_for(lambda: httpx.get(f"{base}/ready").status_code == 200, timeout=30)
        yield base


@pytest.fixture
def dead_letters() -> Iterator[Tap]:
    tap = Tap("wallet-service.dlx", kind="fanout")
    yield tap
    tap.delete()


def test_ready_reports_the_broker(amqp_service: str) -> None:
    r = httpx.get(f"{amqp_service}/ready")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_user_and_booking_events_from_the_broker_move_balances(
    amqp_service: str, company: Company
) -> None:
    user_id = uuid.uuid4()
    publish(
        "user.events",
        envelope(
            "UserCreated",
            {
                "user_id": str(user_id),
                "email": "x@example.com",
                "company_id": str(company.company_id),
            },
        ),
    )
    wallet = wait_for(lambda: company.system.get(f"/wallets/{user_id}").status_code == 200)
    assert wallet
    alice = company.member(balance="100.00")
    data = booking(alice, "40.00")
    publish("booking.events", envelope("BookingCreated", data))
    wait_for(lambda: company.wallet(alice)["balance"] == "60.00")
    cancel = {"booking_id": data["booking_id"], "user_id": str(alice.user_id)}
    publish("booking.events", envelope("BookingCancelled", cancel))
    wait_for(lambda: company.wallet(alice)["balance"] == "100.00")


def test_redelivered_events_apply_once(amqp_service: str, company: Company) -> None:
    bob = company.member(balance="100.00")
    data = booking(bob, "25.00")
    event = envelope("BookingCreated", data)
    # the same event three times, and the same booking under another id and with none
    publish("booking.events", event, event, event, envelope("BookingCreated", data))
    publish("booking.events", {"event_type": "BookingCreated", "data": data})
    marker = booking(bob, "1.00")  # applied after the duplicates: when it shows, they are done
    publish("booking.events", envelope("BookingCreated", marker))
    wait_for(lambda: company.wallet(bob)["balance"] == "74.00")
    cancel = {"booking_id": data["booking_id"], "user_id": str(bob.user_id)}
    publish("booking.events", *[envelope("BookingCancelled", cancel) for _ in range(4)])
    wait_for(lambda: company.wallet(bob)["balance"] == "99.00")
    txns = company.transactions(bob)
    assert sorted((t["type"], t["amount"]) for t in txns) == [
        ("CREDIT", "100.00"),
        ("CREDIT", "25.00"),
        ("DEBIT", "1.00"),
        ("DEBIT", "25.00"),
    ]


def test_poison_messages_go_to_the_dlq_and_good_ones_keep_flowing(
    amqp_service: str, company: Company, dead_letters: Tap
) -> None:
    carol = company.member(balance="50.00")
    ghost = booking(carol, "1.00", user_id=str(uuid.uuid4()))
    poison: dict[str, bytes | dict[str, Any]] = {
        "bad-json": b"{not json",
        "missing-field": envelope("BookingCreated", {"user_id": str(carol.user_id)}),
        "unknown-type": envelope("BookingExploded", {"x": 1}),
        "unknown-user": envelope("BookingCreated", ghost),
    }
    good = booking(carol, "5.00")
    publish("booking.events", *poison.values(), envelope("BookingCreated", good))
    wait_for(lambda: company.wallet(carol)["balance"] == "45.00")
    dead = dead_letters.drain(want=len(poison))
    reasons = sorted(str((m.headers or {}).get("x-death-reason")) for m in dead)
    assert len(dead) == len(poison), reasons
    assert any(r.startswith("MALFORMED: body is not JSON") for r in reasons)
    assert any(r.startswith("VALIDATION_ERROR") and "BookingExploded" in r for r in reasons)
    assert any(r.startswith("VALIDATION_ERROR: data does not fit") for r in reasons)
    assert any(r.startswith("USER_NOT_FOUND") for r in reasons)
    assert all(m.headers and m.headers["x-original-exchange"] == "booking.events" for m in dead)


def test_what_the_service_does_is_published_on_wallet_events(
    amqp_service: str, company: Company
) -> None:
    tap = Tap("wallet.events")
    try:
        dan = company.member(balance="10.00")
        ok = booking(dan, "4.00")
        refused = booking(dan, "400.00")
        publish(
            "booking.events", envelope("BookingCreated", ok), envelope("BookingCreated", refused)
        )
        wait_for(lambda: company.wallet(dan)["balance"] == "6.00")
        mine = []

        def arrived() -> bool:
            for m in tap.drain(timeout=1):
                event = body(m)
                if event["data"].get("wallet_id") == dan.wallet_id:
                    assert m.message_id == event["event_id"]
                    assert m.routing_key == event["event_type"]
                    assert m.delivery_mode == 2  # persistent
                    mine.append(event)
            return any(e["event_type"] == "TransactionFailed" for e in mine)

        wait_for(arrived)
        kinds = [e["event_type"] for e in mine]
        assert kinds[0] == "WalletCreated"
        assert kinds.count("TransactionCompleted") == 2  # the top-up and the booking
        [failed] = [e["data"] for e in mine if e["event_type"] == "TransactionFailed"]
        assert failed["code"] == "INSUFFICIENT_FUNDS"
        assert failed["reference_id"] == refused["booking_id"]
        assert {"wallet_id", "user_id", "amount", "reference_id", "code"} <= set(failed)
    finally:
        tap.delete()
