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
A copy is always confirmed by the broker (publisher confirms, `mandatory`: an unroutable copy is a
failure too) before the original is acked, so nothing is lost. When a copy cannot be published
(refused by the broker, returned) the original goes back, after a short pause, to the end of the
inbox (a confirmed copy, then the ack; failing that, a nack with requeue): never is a delivery left
unacked holding a prefetch slot, and poison messages do not starve the others.
A session ends (and `broker.supervise` reconnects and re-declares) on stop(), when the connection
or the channel closes, or when the broker cancels the subscription (queue deleted, failover).
stop() cancels the subscription, lets the messages in hand finish, then closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError

from wallet_service import wire
from wallet_service.errors import AppError
from wallet_service.events import broker, handlers
from wallet_service.events.schemas import EventResult, IncomingEvent
from wallet_service.ledger.engine import Ledger

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
    #: pause before a message whose retry/dead-letter copy could not be published goes back to
    #: the end of the inbox
    requeue_delay_s: float = 1.0


class Permanent(Exception):
    """This message can never be applied: it goes to the DLQ now."""


class Consumer:
    """Consumes the inbox; run() until stop()."""

    def __init__(
        self,
        ledger: Ledger | None,
        amqp_url: str,
        topology: Topology | None = None,
        *,
        handle: Handle | None = None,
    ):
        if handle is None:
            assert ledger is not None, "a Consumer needs the ledger or a handle"
            engine = ledger

            async def handle(event: IncomingEvent) -> EventResult:
                return await handlers.apply(engine, event)

        self.handle = handle
        self.url = amqp_url
        self.topology = topology or Topology()
        self._stopping = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._consuming = False
        self._in_flight: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """Readiness: a live connection, a live channel and a subscription the broker has not
        cancelled."""
        return (
            self._consuming
            and self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

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
        # on_return_raises: a copy the broker cannot route (a retry queue or the DLQ missing) is
        # returned, and that raises instead of counting as published
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.set_qos(prefetch_count=self.topology.prefetch)
        inbox = await self.declare(channel)
        cancelled = asyncio.get_running_loop().create_future()
        tag = ""

        def on_cancel(frame: aiormq.spec.Basic.Cancel) -> None:
            # the broker cancelled the subscription (queue deleted, failover, ...)
            if frame.consumer_tag == tag and not cancelled.done():
                cancelled.set_result(True)

        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(on_cancel)

        async def dispatch(message: AbstractIncomingMessage) -> None:
            # one task per message, tracked so stop() can wait for the messages in hand
            task = asyncio.create_task(self._on_message(channel, message))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        tag = await inbox.consume(dispatch, no_ack=False)
        self._connection, self._channel, self._consuming = connection, channel, True
        try:
            stop = asyncio.create_task(self._stopping.wait())
            lost = asyncio.ensure_future(connection.closed())
            channel_lost = asyncio.ensure_future(channel.closed())
            await asyncio.wait(
                {stop, lost, channel_lost, cancelled}, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in (stop, lost, channel_lost):
                waiter.cancel()
            if connection.is_closed:
                raise ConnectionError("the broker closed the connection")
            if channel.is_closed:
                raise ConnectionError("the broker closed the consumer's channel")
            if cancelled.done():
                self._consuming = False
                # the messages in hand finish (their acks go to this channel), then reconnect
                await asyncio.gather(*self._in_flight, return_exceptions=True)
                raise ConnectionError(f"the broker cancelled the subscription to {inbox.name}")
            await inbox.cancel(tag)  # no new deliveries; those in hand finish below
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await channel.close()
        finally:
            underlay.on_consumer_cancel_callbacks.discard(on_cancel)
            self._connection, self._channel, self._consuming = None, None, False

    async def _on_message(self, channel: AbstractChannel, message: AbstractIncomingMessage) -> None:
        try:
            await self._process(channel, message)
        except Exception as exc:
            # the retry/dead-letter copy was refused (Basic.Nack, e.g. a full DLQ with
            # reject-publish), returned (unroutable) or not confirmed: never leave the delivery
            # unacked (it would hold a prefetch slot for ever)
            if channel.is_closed:  # the broker redelivers what this channel had unacked
                log.warning("consumer: %s left for redelivery (%s)", message.message_id, exc)
                return
            log.warning("consumer: copy of %s failed (%r); requeued", message.message_id, exc)
            CONSUMED.labels("requeued").inc()
            await self._requeue(channel, message, f"{type(exc).__name__}: {exc}")

    async def _requeue(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, why: str
    ) -> None:
        """After a pause, put the message back at the END of the inbox (a confirmed copy, then the
        ack), so that poison messages cannot starve the others: a nack with requeue puts it back
        at its old place, the head of the queue, and it would come straight back. If even that
        fails, nack with requeue; if the channel is gone, the broker redelivers it anyway."""
        try:
            await asyncio.sleep(self.topology.requeue_delay_s)
            copy = _copy(message, {**_origin(message), "x-last-error": why[:500]})
            await channel.default_exchange.publish(
                copy, routing_key=self.topology.inbox, mandatory=True
            )
            await message.ack()
        except Exception as exc:
            log.warning("consumer: could not requeue %s at the end (%s)", message.message_id, exc)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)

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
        extra: dict[str, Any] = {"x-retry-count": count + 1, "x-last-error": why[:500]}
        if count == 0:
            # after a retry the delivery comes from the retry queue (exchange "", key = the
            # inbox): where the message was first published is recorded now and kept
            extra |= _origin(message)
        copy = _copy(message, extra)
        copy.expiration = delays[count]
        await channel.default_exchange.publish(copy, routing_key=queue, mandatory=True)
        CONSUMED.labels("retried").inc()
        log.info(
            "consumer: %s retry %d in %ss (%s)", message.message_id, count + 1, delays[count], why
        )

    async def _dead_letter(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, reason: str
    ) -> None:
        origin = _origin(message)
        copy = _copy(
            message,
            {"x-death-reason": reason[:1000], "x-retry-count": _retry_count(message), **origin},
        )
        dlx = await channel.get_exchange(self.topology.dead_letter_exchange, ensure=False)
        await dlx.publish(copy, routing_key=origin["x-original-routing-key"], mandatory=True)
        CONSUMED.labels("dead_lettered").inc()
        log.warning("consumer: %s dead-lettered: %s", message.message_id, reason)


def _parse(body: bytes) -> IncomingEvent:
    try:
        raw = wire.loads(body)  # as POST /events reads it: amounts exactly as written
    except ValueError as exc:
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


def _origin(message: AbstractIncomingMessage) -> dict[str, Any]:
    """Where the message was first published: the headers a retry recorded, else this delivery."""
    headers = message.headers or {}
    return {
        "x-original-exchange": headers.get("x-original-exchange", message.exchange or ""),
        "x-original-routing-key": headers.get("x-original-routing-key", message.routing_key or ""),
    }


def _broker_death_header(name: str) -> bool:
    return name == "x-death" or name.startswith(("x-first-death-", "x-last-death-"))


def _copy(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A persistent copy of the message with extra headers (the death headers RabbitMQ adds when it
    dead-letters, `x-death`, `x-first-death-*`, `x-last-death-*`, are dropped: the broker keeps its
    own)."""
    kept = {k: v for k, v in (message.headers or {}).items() if not _broker_death_header(k)}
    return aio_pika.Message(
        body=message.body,
        headers={**kept, **headers},
        content_type=message.content_type or "application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        type=message.type,
        timestamp=message.timestamp,
    )
