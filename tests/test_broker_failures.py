"""The consumer's failure handling on the real RabbitMQ, with its own uniquely named topology and
a handler that fails on purpose: transient failures are retried with backoff then applied, a
message that keeps failing ends in the DLQ after the last retry, and a graceful stop finishes the
messages in hand and loses none."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

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


@contextlib.contextmanager
def _policy(name: str, queues: list[str], definition: dict[str, Any]) -> Iterator[None]:
    """A RabbitMQ policy on exactly these queues for the duration (set and cleared with
    rabbitmqctl; the test is skipped without it)."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not available to set a policy")
    pattern = "^(" + "|".join(re.escape(q) for q in queues) + ")$"
    spec = orjson.dumps(definition).decode()
    vhost = ["-p", unquote(urlsplit(AMQP_URL).path[1:]) or "/"]  # the queues' vhost
    subprocess.run(
        [
            ctl,
            "set_policy",
            *vhost,
            "--apply-to",
            "queues",
            "--priority",
            "100",
            name,
            pattern,
            spec,
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run([ctl, "clear_policy", *vhost, name], check=False, capture_output=True)


async def _inbox_counts(queue_name: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue, through a passive declare."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        declared = queue.declaration_result
        return declared.message_count or 0, declared.consumer_count or 0


def test_copies_the_broker_refuses_are_requeued_and_do_not_stall_the_consumer(
    topology: Topology,
) -> None:
    """The DLQ and the first retry queue refuse every publish (max-length 0, reject-publish): the
    broker nacks the copies. The originals go back to the end of the inbox (not left unacked
    holding the prefetch slots), so the good messages behind them are handled, and the poison ones
    are not lost."""
    topo = dataclasses.replace(topology, prefetch=2, requeue_delay_s=0.2)
    handled: list[str] = []

    async def handle(event: IncomingEvent) -> EventResult:
        if event.data["kind"] == "transient":
            raise ServiceUnavailable("the database is unavailable")
        handled.append(event.data["name"])
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    good = [f"good{i}" for i in range(5)]

    async def scenario(consumer: Consumer) -> None:
        await publish_async(
            topo.sources[0],
            [b"not json", b"not json either"]
            + [envelope("Test", {"kind": "transient", "name": f"t{i}"}) for i in range(2)]
            + [envelope("Test", {"kind": "good", "name": n}) for n in good],
        )
        await _eventually(lambda: len(handled) >= len(good))

    refusing = [topo.dlq, f"{topo.retry_prefix}.1"]
    reject = {"max-length": 0, "overflow": "reject-publish"}
    with _policy(f"test-refuse-{topo.inbox}", refusing, reject):
        asyncio.run(_with_consumer(topo, handle, scenario))
    assert sorted(handled) == good
    ready, consumers = asyncio.run(_inbox_counts(topo.inbox))
    assert (ready, consumers) == (4, 0)  # the poison messages are back in the inbox, none lost


def test_a_missing_retry_queue_loses_no_message(topology: Topology) -> None:
    """Copies are published `mandatory`, and a returned (unroutable) copy is a failure: with the
    retry queue gone the message goes back to the inbox instead of being acked, and is applied
    once it succeeds."""
    topo = dataclasses.replace(topology, requeue_delay_s=0.1)
    calls: list[str] = []

    async def flaky(event: IncomingEvent) -> EventResult:
        calls.append(event.data["name"])
        if len(calls) <= 2:
            raise ServiceUnavailable("the database is unavailable")
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    async def scenario(consumer: Consumer) -> None:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"{topo.retry_prefix}.1")
        await publish_async(topo.sources[0], [envelope("Test", {"name": "m"})])
        await _eventually(lambda: len(calls) >= 3)

    asyncio.run(_with_consumer(topo, flaky, scenario))
    assert calls == ["m", "m", "m"]


def test_dead_lettered_after_retries_keeps_the_original_exchange_and_routing_key(
    topology: Topology,
) -> None:
    topo = dataclasses.replace(topology, retry_delays_s=(0.05, 0.05))

    async def failing(event: IncomingEvent) -> EventResult:
        raise ServiceUnavailable("the database is unavailable")

    async def scenario(consumer: Consumer) -> list[aio_pika.abc.AbstractIncomingMessage]:
        await publish_async(topo.sources[0], [envelope("BookingCreated", {"name": "x"})])
        return await _drain(topo.dlq, want=1)

    [message] = asyncio.run(_with_consumer(topo, failing, scenario))
    headers = message.headers or {}
    assert headers["x-retry-count"] == 2
    assert headers["x-original-exchange"] == topo.sources[0]
    assert headers["x-original-routing-key"] == "BookingCreated"
    assert message.routing_key == "BookingCreated"
    # the broker's own death headers are its business: none copied from the retry queue
    copied = [k for k in headers if k.startswith(("x-first-death-", "x-last-death-"))]
    broker_death = headers.get("x-death") or []
    assert isinstance(broker_death, list)
    assert not copied
    assert all(d["queue"] == topo.dlq for d in broker_death)


def test_a_cancelled_subscription_reconnects_and_redeclares(topology: Topology) -> None:
    """The broker cancels the consumer when its queue is deleted (or on failover): the session
    ends, and the reconnect re-declares the inbox and consumes it again."""
    handled: list[str] = []

    async def handle(event: IncomingEvent) -> EventResult:
        handled.append(event.data["name"])
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    async def scenario(consumer: Consumer) -> None:
        await publish_async(topology.sources[0], [envelope("Test", {"name": "before"})])
        await _eventually(lambda: handled == ["before"])
        assert consumer.connected
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(topology.inbox)

        async def redeclared() -> bool:
            try:
                return (await _inbox_counts(topology.inbox))[1] == 1
            except aio_pika.exceptions.ChannelNotFoundEntity:
                return False

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not await redeclared():
            assert loop.time() < deadline, "the inbox was not re-declared and consumed"
            await asyncio.sleep(0.1)
        after = [envelope("Test", {"name": f"after{i}"}) for i in range(3)]
        await publish_async(topology.sources[0], list(after))
        await _eventually(lambda: len(handled) == 4)
        await _eventually(lambda: consumer.connected)

    asyncio.run(_with_consumer(topology, handle, scenario))
    assert handled == ["before", "after0", "after1", "after2"]


def test_a_channel_closed_by_the_broker_reconnects(topology: Topology) -> None:
    """A channel error (here: acking an unknown delivery tag, 406 PRECONDITION_FAILED; in
    production e.g. consumer_timeout) closes the consumer's channel but not the connection: the
    session ends and the reconnect consumes again."""
    handled: list[str] = []

    async def handle(event: IncomingEvent) -> EventResult:
        handled.append(event.data["name"])
        return EventResult(event_id=event.event_id, event_type=event.event_type, applied=True)

    async def scenario(consumer: Consumer) -> None:
        channel = consumer._channel
        assert channel is not None
        underlay = await channel.get_underlay_channel()
        await underlay.basic_ack(987654)  # the broker closes the channel for this
        await _eventually(lambda: channel.is_closed)
        await _eventually(lambda: consumer.connected and consumer._channel is not channel)
        await publish_async(topology.sources[0], [envelope("Test", {"name": "after"})])
        await _eventually(lambda: handled == ["after"])

    asyncio.run(_with_consumer(topology, handle, scenario))
