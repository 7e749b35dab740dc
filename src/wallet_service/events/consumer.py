"""The consumer: applies events from `booking.events` and `user.events` through the same
`handlers.apply()` as POST /events.

Topology (declared idempotently): the durable queue `wallet-service.inbox`, bound with `#` to both
topic exchanges, dead-lettering to the fanout exchange `wallet-service.dlx`, which feeds the
durable queue `wallet-service.dlq`. Delays before a retry are durable queues
`wallet-service.retry.<n>` whose expired messages are dead-lettered back to the inbox.

Per message (manual acks, a prefetch limit):
* applied, or a redelivery that changes nothing -> ack;
* malformed (not JSON, not an envelope, unknown event type, data that does not fit) or refused
  for good (unknown user, another 4xx) -> straight to the DLQ, the reason in `x-death-reason`;
* transient (database unavailable, any other error) -> re-published to the next retry queue with
  `x-retry-count`; after the last retry -> DLQ. The consumer goes on with other messages.
A copy is always confirmed by the broker before the original is acked, so nothing is lost.
stop() cancels the subscription, lets the messages in hand finish, then closes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError

from wallet_service.db.pool import Database
from wallet_service.errors import AppError
from wallet_service.events import broker, handlers
from wallet_service.events.schemas import EventResult, IncomingEvent

log = logging.getLogger(__name__)

CONSUMED = Counter(
    "wallet_events_consumed_total",
    "Messages taken from the inbox, by outcome",
    ["outcome"],  # applied, unchanged (a redelivery), retried, dead_lettered
)

Handle = Callable[[IncomingEvent], Awaitable[EventResult]]


@dataclass(frozen=True)
class Topology:
    """Names and limits of what the consumer declares (tests use their own names)."""

    inbox: str = "wallet-service.inbox"
    sources: tuple[str, ...] = ("booking.events", "user.events")
    dead_letter_exchange: str = "wallet-service.dlx"
    dlq: str = "wallet-service.dlq"
    retry_prefix: str = "wallet-service.retry"
    #: delay before each retry (exponential); its length is how many retries a message gets
    retry_delays_s: tuple[float, ...] = (1.0, 4.0, 16.0)
    prefetch: int = 16


class Permanent(Exception):
    """This message can never be applied: it goes to the DLQ now."""


class Consumer:
    """Consumes the inbox; run() until stop()."""

    def __init__(
        self,
        db: Database | None,
        amqp_url: str,
        topology: Topology | None = None,
        *,
        handle: Handle | None = None,
    ):
        if handle is None:
            assert db is not None, "a Consumer needs a database or a handle"
            database = db

            async def handle(event: IncomingEvent) -> EventResult:
                return await handlers.apply(database, event)

        self.handle = handle
        self.url = amqp_url
        self.topology = topology or Topology()
        self._stopping = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def run(self) -> None:
        await broker.supervise("consumer", self.url, self._session, self._stopping)

    def stop(self) -> None:
        self._stopping.set()

    async def declare(self, channel: AbstractChannel) -> aio_pika.abc.AbstractQueue:
        """Declare the exchanges and queues (idempotent) and return the inbox."""
        t = self.topology
        dlx = await channel.declare_exchange(
            t.dead_letter_exchange, aio_pika.ExchangeType.FANOUT, durable=True
        )
        dlq = await channel.declare_queue(t.dlq, durable=True)
        await dlq.bind(dlx, routing_key="#")
        inbox = await channel.declare_queue(
            t.inbox, durable=True, arguments={"x-dead-letter-exchange": t.dead_letter_exchange}
        )
        for source in t.sources:
            exchange = await channel.declare_exchange(
                source, aio_pika.ExchangeType.TOPIC, durable=True
            )
            await inbox.bind(exchange, routing_key="#")
        for n in range(1, len(t.retry_delays_s) + 1):
            await channel.declare_queue(
                f"{t.retry_prefix}.{n}",
                durable=True,
                arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": t.inbox},
            )
        return inbox

    async def _session(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self.topology.prefetch)
        inbox = await self.declare(channel)
        self._connection = connection

        async def dispatch(message: AbstractIncomingMessage) -> None:
            # one task per message, tracked so stop() can wait for the messages in hand
            task = asyncio.create_task(self._on_message(channel, message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        tag = await inbox.consume(dispatch, no_ack=False)
        try:
            stop = asyncio.create_task(self._stopping.wait())
            lost = asyncio.ensure_future(connection.closed())
            await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            lost.cancel()
            if connection.is_closed:
                raise ConnectionError("the broker closed the connection")
            await inbox.cancel(tag)  # no new deliveries; those in hand finish below
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await channel.close()
        finally:
            self._connection = None

    async def _on_message(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
        try:
            await self._process(channel, message)
        except Exception:
            # could not even ack or re-publish (the broker went away): the message stays unacked
            # and the broker redelivers it; dedupe makes that harmless
            log.exception("consumer: message %s left for redelivery", message.message_id)

    async def _process(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
        try:
            event = _parse(message.body)
            result = await self.handle(event)
        except Permanent as exc:
            await self._dead_letter(channel, message, str(exc))
        except AppError as exc:
            if exc.status < 500:
                await self._dead_letter(channel, message, f"{exc.code}: {exc.detail}")
            else:
                await self._retry(channel, message, f"{exc.code}: {exc.detail}")
        except Exception as exc:
            log.warning("consumer: %s failed (%s)", message.message_id, exc, exc_info=True)
            await self._retry(channel, message, f"{type(exc).__name__}: {exc}")
        else:
            CONSUMED.labels("applied" if result.applied else "unchanged").inc()
        await message.ack()

    async def _retry(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, why: str
    ) -> None:
        delays = self.topology.retry_delays_s
        count = _retry_count(message)
        if count >= len(delays):
            await self._dead_letter(channel, message, f"RETRIES_EXHAUSTED after {count}: {why}")
            return
        queue = f"{self.topology.retry_prefix}.{count + 1}"
        copy = _copy(message, {"x-retry-count": count + 1, "x-last-error": why[:500]})
        copy.expiration = delays[count]
        await channel.default_exchange.publish(copy, routing_key=queue)
        CONSUMED.labels("retried").inc()
        log.info(
            "consumer: %s retry %d in %ss (%s)", message.message_id, count + 1, delays[count], why
        )

    async def _dead_letter(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, reason: str
    ) -> None:
        copy = _copy(
            message,
            {
                "x-death-reason": reason[:1000],
                "x-retry-count": _retry_count(message),
                "x-original-exchange": message.exchange or "",
                "x-original-routing-key": message.routing_key or "",
            },
        )
        dlx = await channel.get_exchange(self.topology.dead_letter_exchange, ensure=False)
        await dlx.publish(copy, routing_key=message.routing_key or "")
        CONSUMED.labels("dead_lettered").inc()
        log.warning("consumer: %s dead-lettered: %s", message.message_id, reason)


def _parse(body: bytes) -> IncomingEvent:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Permanent(f"MALFORMED: body is not JSON ({exc})") from None
    try:
        event = IncomingEvent.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Permanent(f"MALFORMED: not an event envelope ({where}: {first['msg']})") from None
    return event


def _retry_count(message: AbstractIncomingMessage) -> int:
    raw: Any = (message.headers or {}).get("x-retry-count", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of the message with extra headers (RabbitMQ's x-death is dropped: the
    broker keeps its own)."""
    kept = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
    return aio_pika.Message(
        body=message.body,
        headers={**kept, **headers},
        content_type=message.content_type or "application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
    )
