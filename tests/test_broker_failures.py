"""The consumer's failure handling on the real RabbitMQ, with its own uniquely named topology and
a handler that fails on purpose: transient failures are retried with backoff then applied, a
message that keeps failing ends in the DLQ after the last retry, and a graceful stop finishes the
messages in hand and loses none."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aio_pika
import orjson
import pytest

from tests.broker import AMQP_URL, envelope, publish_async, require_broker
from wallet_service.errors import ServiceUnavailable
from wallet_service.events.consumer import Consumer, Topology
from wallet_service.events.schemas import EventResult, IncomingEvent


@pytest.fixture
def topology() -> Iterator[Topology]:
    url = require_broker()
    tag = uuid.uuid4().hex[:10]
    topo = Topology(
        inbox=f"test.inbox.{tag}",
        sources=(f"test.source.{tag}",),
        dead_letter_exchange=f"test.dlx.{tag}",
        dlq=f"test.dlq.{tag}",
        retry_prefix=f"test.retry.{tag}",
        retry_delays_s=(0.1, 0.2, 0.4),
        prefetch=4,
    )
    yield topo

    async def cleanup() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queues = [topo.inbox, topo.dlq]
            queues += [f"{topo.retry_prefix}.{n}" for n in range(1, 4)]
            for q in queues:
                await channel.queue_delete(q)
            for ex in (*topo.sources, topo.dead_letter_exchange):
                await channel.exchange_delete(ex)

    asyncio.run(cleanup())


Handle = Callable[[IncomingEvent], Awaitable[EventResult]]


async def _with_consumer(
    topo: Topology, handle: Handle, body: Callable[[Consumer], Awaitable[Any]]
) -> Any:
    consumer = Consumer(None, AMQP_URL, topo, handle=handle)
    task = asyncio.create_task(consumer.run())
    for _ in range(100):
        if consumer.connected:
            break
        await asyncio.sleep(0.05)
    try:
        return await body(consumer)
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 20)


async def _eventually(check: Callable[[], bool], within: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _drain(queue_name: str, want: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        for _ in range(200):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                got.append(message)
            elif len(got) >= want:
                break
            else:
                await asyncio.sleep(0.05)
    return got


def test_transient_failures_are_retried_then_applied_or_dead_lettered(topology: Topology) -> None:
    calls: Counter[str] = Counter()
    applied: list[str] = []

    async def flaky(event: IncomingEvent) -> EventResult:
        name = event.data["name"]
        calls[name] += 1
        if calls[name] <= event.data["fail_times"]:
            raise ServiceUnavailable("the database is unavailable")
        applied.append(name)
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    async def scenario(consumer: Consumer) -> list[aio_pika.abc.AbstractIncomingMessage]:
        await publish_async(
            topology.sources[0],
            [
                envelope("Test", {"name": "twice", "fail_times": 2}),
                envelope("Test", {"name": "always", "fail_times": 99}),
                envelope("Test", {"name": "fine", "fail_times": 0}),
            ],
        )
        await _eventually(lambda: "twice" in applied and calls["always"] == 4)
        return await _drain(topology.dlq, want=1)

    dead = asyncio.run(_with_consumer(topology, flaky, scenario))
    assert sorted(applied) == ["fine", "twice"]
    assert calls == {"twice": 3, "always": 4, "fine": 1}  # 1 try + 3 retries, then the DLQ
    [message] = dead
    assert orjson.loads(message.body)["data"]["name"] == "always"
    headers = message.headers or {}
    assert headers["x-retry-count"] == 3
    assert str(headers["x-death-reason"]).startswith(
        "RETRIES_EXHAUSTED after 3: SERVICE_UNAVAILABLE"
    )


def test_graceful_stop_finishes_messages_in_hand_and_loses_none(topology: Topology) -> None:
    started: list[str] = []
    finished: list[str] = []

    async def slow(event: IncomingEvent) -> EventResult:
        started.append(event.data["name"])
        await asyncio.sleep(0.5)
        finished.append(event.data["name"])
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    names = [f"m{i}" for i in range(10)]

    async def first_run(consumer: Consumer) -> None:
        await publish_async(topology.sources[0], [envelope("Test", {"name": n}) for n in names])
        await _eventually(lambda: len(started) >= topology.prefetch)
        consumer.stop()  # while 4 messages are in hand

    asyncio.run(_with_consumer(topology, slow, first_run))
    assert started == finished, "every message taken was finished before the consumer stopped"
    assert len(finished) < len(names)

    async def second_run(consumer: Consumer) -> None:
        await _eventually(lambda: len(finished) >= len(names))

    asyncio.run(_with_consumer(topology, slow, second_run))
    assert sorted(finished) == sorted(names)  # nothing lost, nothing applied twice
