"""The AsyncAPI 3 document of the events this service publishes and consumes (contract section 6),
built from the models the code uses: events/published.py for what it publishes, the handlers'
models (events/handlers.py: HANDLERS and POSTINGS) for what it consumes, the envelopes'
(events/schemas.py). Nothing here declares a shape of its own."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from wallet_service import __version__
from wallet_service.events.handlers import HANDLERS, POSTINGS
from wallet_service.events.published import NOT_YET_EMITTED, PUBLISHED
from wallet_service.events.schemas import IncomingEvent, PublishedEvent

PUBLISHED_EXCHANGE = "wallet.events"
#: consumed event_type -> the exchange its producer publishes it to (the inbox is bound to both)
CONSUMED_FROM = {
    "UserCreated": "user.events",
    "BookingCreated": "booking.events",
    "BookingCancelled": "booking.events",
}
INBOX = "wallet-service.inbox"
_AMQP = "0.3.0"  # the AMQP bindings version used below


def _channel_id(exchange: str) -> str:
    head, _, tail = exchange.partition(".")
    return head + tail.capitalize()  # wallet.events -> walletEvents


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().split("\n\n")[0].replace("\n", " ")


def _envelope(event_type: str, data_ref: dict[str, str], *, published: bool) -> dict[str, Any]:
    """The envelope's schema from its model (PublishedEvent or IncomingEvent), with this event's
    type and data."""
    base = PublishedEvent if published else IncomingEvent
    schema = base.model_json_schema(mode="serialization" if published else "validation")
    schema.pop("title", None)
    schema["properties"]["event_type"] = {"type": "string", "const": event_type}
    schema["properties"]["data"] = data_ref
    return schema


def _message(
    event_type: str, model: type[BaseModel], data_ref: dict[str, str], *, published: bool
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": event_type,
        "title": event_type,
        "summary": _summary(model),
        "contentType": "application/json",
        "payload": _envelope(event_type, data_ref, published=published),
    }
    if published:
        message["bindings"] = {"amqp": {"messageType": event_type, "bindingVersion": _AMQP}}
        message["description"] = (
            f"Routing key and AMQP `type` `{event_type}`; AMQP `message_id` = `event_id`."
            + (
                " Declared by the contract, not published by this version yet."
                if event_type in NOT_YET_EMITTED
                else ""
            )
        )
    return message


def _exchange_channel(exchange: str, event_types: list[str], description: str) -> dict[str, Any]:
    return {
        "address": exchange,
        "description": description,
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in event_types},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                },
                "bindingVersion": _AMQP,
            }
        },
    }


def _operation(action: str, channel: str, event_types: list[str], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{t}"} for t in event_types],
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole document (built once; the models do not change while the process runs)."""
    consumed = {t: model for t, (model, _) in [*HANDLERS.items(), *POSTINGS.items()]}
    refs, schemas = models_json_schema(
        [(m, "serialization") for m in PUBLISHED.values()]
        + [(m, "validation") for m in consumed.values()],
        ref_template="#/components/schemas/{model}",
    )
    messages = {
        t: _message(t, m, refs[(m, "serialization")], published=True) for t, m in PUBLISHED.items()
    }
    messages |= {
        t: _message(t, m, refs[(m, "validation")], published=False) for t, m in consumed.items()
    }
    wallet = _channel_id(PUBLISHED_EXCHANGE)
    channels = {
        wallet: _exchange_channel(
            PUBLISHED_EXCHANGE,
            list(PUBLISHED),
            "Topic exchange (durable) this service publishes to, routing key = event_type, from "
            "its transactional outbox: at least once, in order per wallet, never for a change "
            "that rolled back.",
        )
    }
    publish = _operation(
        "send", wallet, list(PUBLISHED), "Every change of a wallet, its money or its budgets."
    )
    publish["bindings"] = {"amqp": {"deliveryMode": 2, "bindingVersion": _AMQP}}  # persistent
    operations = {"publishWalletEvents": publish}
    for exchange in sorted(set(CONSUMED_FROM.values())):
        types = [t for t, source in CONSUMED_FROM.items() if source == exchange]
        channel = _channel_id(exchange)
        channels[channel] = _exchange_channel(
            exchange,
            types,
            f"Topic exchange this service consumes from, through its durable queue `{INBOX}` "
            "(bound with `#`). Each event takes effect once however often it is delivered; one "
            "that keeps failing goes to `wallet-service.dlq`. The same envelopes are accepted "
            "by `POST /events`.",
        )
        operations[f"consume{channel[0].upper()}{channel[1:]}"] = _operation(
            "receive", channel, types, f"Events from {exchange} that change wallets."
        )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Wallet & Budget Service events",
            "version": __version__,
            "description": "Envelope, both ways: {event_id, event_type, timestamp, data}. "
            "Amounts are strings with two decimals.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "description": "The RabbitMQ named by AMQP_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.get("$defs", {})},
    }
