"""Test-side RabbitMQ helpers: skip (saying why) when no broker is reachable, publish messages,
and "tap" queues with unique names that collect what an exchange routes."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import aio_pika
import orjson
import pytest

AMQP_URL = os.environ.get("TEST_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/"


def require_broker() -> str:
    """The broker URL, or skip the test with the reason printed."""

    async def probe() -> None:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        pytest.skip(f"RabbitMQ not reachable at {AMQP_URL} ({type(exc).__name__}: {exc})")
    return AMQP_URL


def envelope(event_type: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "timestamp": "2026-01-01T00:00:00Z",
        "data": data,
    }


async def publish_async(exchange: str, messages: list[bytes | dict[str, Any]]) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for m in messages:
            body = m if isinstance(m, bytes) else orjson.dumps(m)
            key = m.get("event_type", "x") if isinstance(m, dict) else "garbage"
            await target.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=str(key),
            )


def publish(exchange: str, *messages: bytes | dict[str, Any]) -> None:
    """Publish to a topic exchange (routing key = event_type), with confirms."""
    asyncio.run(publish_async(exchange, list(messages)))


class Tap:
    """A durable queue with a unique name bound to an exchange, drained on demand."""

    def __init__(self, exchange: str, kind: str = "topic"):
        self.exchange = exchange
        self.kind = aio_pika.ExchangeType(kind)
        self.queue = f"test.tap.{exchange}.{uuid.uuid4().hex[:10]}"
        asyncio.run(self._declare())

    async def _declare(self) -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            ex = await channel.declare_exchange(self.exchange, self.kind, durable=True)
            queue = await channel.declare_queue(self.queue, durable=True)
            await queue.bind(ex, routing_key="#")

    def drain(
        self, *, want: int = 0, timeout: float = 20.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Consume (and ack) messages until `want` arrived and the queue stays empty for a moment,
        or `timeout` passes."""

        async def go() -> list[aio_pika.abc.AbstractIncomingMessage]:
            got: list[aio_pika.abc.AbstractIncomingMessage] = []
            connection = await aio_pika.connect(AMQP_URL)
            async with connection:
                channel = await connection.channel()
                queue = await channel.declare_queue(self.queue, durable=True)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                quiet = 0
                while loop.time() < deadline:
                    message = await queue.get(fail=False, no_ack=True)
                    if message is None:
                        if len(got) >= want:
                            quiet += 1
                            if quiet > 5:
                                break
                        await asyncio.sleep(0.1)
                        continue
                    quiet = 0
                    got.append(message)
            return got

        return asyncio.run(go())

    def delete(self) -> None:
        async def go() -> None:
            connection = await aio_pika.connect(AMQP_URL)
            async with connection:
                channel = await connection.channel()
                await channel.queue_delete(self.queue)

        asyncio.run(go())


def body(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(message.body)
    return data
