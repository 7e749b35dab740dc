"""GET /asyncapi.json: a valid AsyncAPI 3 document of every event published and consumed, whose
JSON Schemas fit the real events: every kind of event is produced through the API, read back
from the outbox, and validated against the document with no undocumented field allowed.

tests/data/asyncapi-3.0.0.schema.json is the AsyncAPI 3.0.0 JSON Schema from the npm package
@asyncapi/specs 6.11.1 (Apache-2.0)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jsonschema
import psycopg
import pytest
from pydantic import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.budget_helpers import make_budget
from tests.support import Company, booking, hold, published
from wallet_service.budgets import lifecycle
from wallet_service.db.pool import Database
from wallet_service.events import outbox

T = TypeVar("T")
RunDb = Callable[[Callable[[Database], Awaitable[T]]], T]

SPEC = Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json"
CONTRACT_PUBLISHED = {
    "WalletCreated",
    "WalletStatusChanged",
    "TransactionCompleted",
    "TransactionFailed",
    "BudgetCreated",
    "BudgetUpdated",
    "BudgetExceeded",
    "HoldPlaced",
    "HoldCaptured",
    "HoldVoided",
    "TransferCompleted",
    "SuspiciousActivityDetected",
}
CONTRACT_CONSUMED = {"UserCreated", "BookingCreated", "BookingCancelled"}


@pytest.fixture(scope="module")
def document(base_url: str) -> dict[str, Any]:
    r = httpx.get(f"{base_url}/asyncapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to other properties."""
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def validator(document: dict[str, Any], message: str) -> jsonschema.Draft202012Validator:
    """Validates an envelope against the document's payload of `message`, closed."""
    resource = Resource.from_contents(closed(document), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:asyncapi", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:asyncapi#/components/messages/{message}/payload"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    spec = json.loads(SPEC.read_text())
    errors = [e.message[:200] for e in jsonschema.Draft7Validator(spec).iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


def test_every_event_of_the_contract_is_documented(document: dict[str, Any]) -> None:
    channels = document["channels"]
    assert channels["walletEvents"]["address"] == "wallet.events"
    assert set(channels["walletEvents"]["messages"]) == CONTRACT_PUBLISHED
    consumed = set(channels["bookingEvents"]["messages"]) | set(channels["userEvents"]["messages"])
    assert consumed == CONTRACT_CONSUMED
    ops = document["operations"]
    assert ops["publishWalletEvents"]["action"] == "send"
    assert {ops["consumeBookingEvents"]["action"], ops["consumeUserEvents"]["action"]} == {
        "receive"
    }
    data = document["components"]["schemas"]["BookingCreated"]
    assert set(data["required"]) == {"booking_id", "user_id", "amount", "currency"}


def every_kind_of_event(company: Company, run_db: RunDb[Any]) -> list[dict[str, Any]]:
    """Produces each event this service publishes, returns the company's feed."""
    manager = company.member("MANAGER")
    alice = company.member(manager=manager, balance="300.00")
    bob = company.member(balance="10.00")
    budget = make_budget(company.admin, alice, "100.00", alert_thresholds=[50])
    assert (
        company.admin.put(
            f"/budgets/{budget['budget_id']}", json={"total_amount": "90", "reason": "tighter"}
        ).status_code
        == 200
    )
    assert company.debit(alice.wallet_id, "60.00").status_code == 201  # BudgetExceeded (50 %)
    trip = booking(alice, "20.00")
    assert company.event("BookingCreated", trip).status_code == 200
    cancel = {"booking_id": trip["booking_id"], "user_id": str(alice.user_id)}
    assert company.event("BookingCancelled", cancel).status_code == 200
    assert company.event("BookingCreated", booking(bob, "999.00")).status_code == 200  # refused
    r = company.admin.post(
        "/transfers",
        json={"from_wallet_id": alice.wallet_id, "to_wallet_id": bob.wallet_id, "amount": "5"},
    )
    assert r.status_code == 201
    held = hold(company, bob.wallet_id, "4.00", reference_id="CAR-1").json()
    r = company.system.post(f"/transactions/{held['txn_id']}/capture", json={"amount": "3"})
    assert r.status_code == 200
    voided = hold(company, bob.wallet_id, "1.00").json()
    assert company.system.post(f"/transactions/{voided['txn_id']}/void").status_code == 200
    for status in ("FROZEN", "ACTIVE"):
        assert (
            company.admin.put(
                f"/wallets/{bob.wallet_id}/status", json={"status": status, "reason": "check"}
            ).status_code
            == 200
        )
    past = (datetime.now(UTC) - timedelta(days=90)).date().replace(day=1)
    make_budget(company.admin, bob, "50.00", start_date=past.isoformat())
    run_db(lambda db: lifecycle.roll_budgets(db, datetime.now(UTC)))  # expires it
    events: list[dict[str, Any]] = []
    page = company.events()
    while page["events"]:
        events += page["events"]
        page = company.events(page["next"])
    return events


def test_real_events_fit_the_document(
    company: Company, run_db: RunDb[Any], document: dict[str, Any]
) -> None:
    events = every_kind_of_event(company, run_db)
    seen = {e["event_type"] for e in events}
    assert seen == CONTRACT_PUBLISHED - {"SuspiciousActivityDetected"}
    for event in events:
        errors = list(validator(document, event["event_type"]).iter_errors(event))
        assert errors == [], (event, [e.message for e in errors])
    # the shapes differ where they should: a transfer leg names its transfer, the expiry of a
    # budget reports only its status change
    legs = [d for d in published(company, "TransactionCompleted") if "transfer_id" in d]
    assert len(legs) == 2
    expiry = [
        e["data"]["changes"]
        for e in events
        if e["event_type"] == "BudgetUpdated" and e["data"]["status"] == "EXPIRED"
    ]
    assert expiry and set(expiry[0]) == {"old_status", "new_status", "reason", "changed_by"}


def test_a_field_the_document_does_not_name_is_caught(
    company: Company, run_db: RunDb[Any], document: dict[str, Any]
) -> None:
    """The check above can fail: an event with an undocumented field, or without a required
    one, does not fit."""
    alice = company.member(balance="1.00")
    (event,) = [e for e in company.events()["events"] if e["event_type"] == "WalletCreated"]
    check = validator(document, "WalletCreated")
    assert list(check.iter_errors(event)) == []
    assert list(check.iter_errors({**event, "data": {**event["data"], "extra": 1}})) != []
    missing = copy.deepcopy(event)
    del missing["data"]["currency"]
    assert list(check.iter_errors(missing)) != []
    assert alice.wallet_id == event["data"]["wallet_id"]


def test_consumed_envelopes_fit_the_document(company: Company, document: dict[str, Any]) -> None:
    """What POST /events (and the broker) accepts is what the document describes."""
    user: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "UserCreated",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {
            "user_id": str(uuid.uuid4()),
            "email": "new@example.com",
            "company_id": str(company.company_id),
            "role": "USER",
            "manager_id": None,
        },
    }
    trip: dict[str, Any] = {
        "event_type": "BookingCreated",
        "data": {**booking_for(user), "description": "x"},
    }
    cancel: dict[str, Any] = {
        "event_type": "BookingCancelled",
        "data": {"booking_id": trip["data"]["booking_id"], "user_id": user["data"]["user_id"]},
    }
    for envelope in (user, trip, cancel):
        errors = list(validator(document, envelope["event_type"]).iter_errors(envelope))
        assert errors == [], envelope
        assert company.system.post("/events", json=envelope).status_code == 200
    wrong = {"event_type": "BookingCreated", "data": {"booking_id": "B", "user_id": "nope"}}
    assert list(validator(document, "BookingCreated").iter_errors(wrong)) != []
    assert company.system.post("/events", json=wrong).status_code == 422


def booking_for(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "booking_id": f"BK-{uuid.uuid4().hex[:8]}",
        "user_id": user["data"]["user_id"],
        "amount": "0.50",
        "currency": "USD",
    }


def test_events_written_from_python_are_built_by_their_model(
    company: Company, run_db: RunDb[Any], sql: psycopg.Connection[Any]
) -> None:
    alice = company.member()
    good = {
        "wallet_id": alice.wallet_id,
        "user_id": str(alice.user_id),
        "initial_balance": 0,
        "currency": "USD",
    }

    async def attempts(db: Database) -> list[str]:
        outcomes = []
        for event_type, data in (
            ("WalletCreated", good),
            ("WalletCreated", {"wallet_id": alice.wallet_id}),  # fields missing
            ("WalletCreated", {**good, "initial_balance": "1.001"}),  # not an amount
            ("NoSuchEvent", {}),
        ):
            try:
                async with db.transaction() as conn:
                    await outbox.emit(conn, event_type, data, company_id=company.company_id)
                outcomes.append("written")
            except ValidationError:
                outcomes.append("invalid")
            except ValueError:
                outcomes.append("undeclared")
        return outcomes

    assert run_db(attempts) == ["written", "invalid", "invalid", "undeclared"]
    stored = sql.execute(
        "SELECT data FROM outbox WHERE company_id = %s AND event_type = 'WalletCreated'"
        " ORDER BY seq DESC LIMIT 1",
        (str(company.company_id),),
    ).fetchone()
    assert stored is not None and stored[0]["initial_balance"] == "0.00"  # the model's rendering
