"""The relay: publishes the transactional outbox to the topic exchange `wallet.events`.

Each event goes out with routing key = event_type, as a persistent message whose message_id is the
event_id and whose body is the envelope {event_id, event_type, timestamp, data}. The channel uses
publisher confirms, and a row is marked published only after the broker confirmed it; rows whose
publication failed are handed back and sent again, so delivery is at-least-once (consumers dedupe
by event_id). Only committed rows are visible to the relay, so nothing is published for a change
that rolled back. A batch is published only while its lease lasts: before each message the relay
checks that the lease outlives the confirm timeout, and otherwise stops and hands back the rest (so
its publications end before another relay may re-claim the rows). With the broker down the service
keeps writing the outbox; the relay reconnects with backoff and catches up, each wallet's events
in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aio_pika
import orjson
from aio_pika.abc import AbstractConnection, AbstractExchange
from prometheus_client import Counter

from wallet_service.db.pool import Database
from wallet_service.events import broker, pending
from wallet_service.events.outbox import envelope

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "wallet_events_published_total", "Outbox events confirmed by RabbitMQ", ["event_type"]
)


@dataclass(frozen=True)
class RelayConfig:
    exchange: str = "wallet.events"
    batch_size: int = 200
    #: how long a claimed batch is reserved for this relay (then another relay may take it)
    lease_s: float = 30.0
    #: pause between polls of an empty outbox
    idle_s: float = 0.2
    confirm_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.lease_s <= self.confirm_timeout_s:
            raise ValueError(
                "lease_s must exceed confirm_timeout_s (a publish must end in its lease)"
            )


class Relay:
    """Publishes the outbox; run() until stop()."""

    def __init__(
        self,
        db: Database,
        amqp_url: str,
        config: RelayConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.db = db
        self.clock = clock
        self.url = amqp_url
        self.config = config or RelayConfig()
        self.published = 0
        self._stopping = asyncio.Event()
        self._connection: AbstractConnection | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def run(self) -> None:
        await broker.supervise("relay", self.url, self._session, self._stopping)

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping.set()

    async def _session(self, connection: AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            self.config.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._connection = connection
        try:
            while not self._stopping.is_set():
                sent = await self.publish_batch(exchange)
                if sent < self.config.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), self.config.idle_s)
        finally:
            self._connection = None

    async def publish_batch(self, exchange: AbstractExchange) -> int:
        """Claim a batch, publish it in order with confirms while its lease lasts, mark what the
        broker confirmed and hand back the rest. Raises when the broker fails mid-batch."""
        # measured before the claim transaction starts, so never later than the lease's end in
        # the database (claimed_until = the transaction's now() + lease_s)
        deadline = self.clock() + self.config.lease_s
        async with self.db.connection() as conn:
            batch = await pending.claim(
                conn, limit=self.config.batch_size, lease_s=self.config.lease_s
            )
        if not batch.rows:
            return 0
        confirmed: list[int] = []
        try:
            for row in batch.rows:
                # the confirm (or its timeout) must come before the lease ends: past it, another
                # relay may have claimed the rest and be publishing it
                if deadline - self.clock() <= self.config.confirm_timeout_s:
                    log.warning(
                        "relay: lease running out, handing back %d unsent events",
                        len(batch.rows) - len(confirmed),
                    )
                    break
                event = envelope(row)
                message = aio_pika.Message(
                    body=orjson.dumps(event),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event["event_id"],
                    type=event["event_type"],
                    timestamp=row["occurred_at"],
                )
                await exchange.publish(
                    message,
                    routing_key=event["event_type"],
                    mandatory=False,
                    timeout=self.config.confirm_timeout_s,
                )
                confirmed.append(row["seq"])
                PUBLISHED.labels(event["event_type"]).inc()
        finally:
            # shielded: even when cancelled mid-batch, record what the broker already has
            await asyncio.shield(self._settle(batch, confirmed))
        self.published += len(confirmed)
        return len(confirmed)

    async def _settle(self, batch: pending.Claim, confirmed: list[int]) -> None:
        done = set(confirmed)
        try:
            async with self.db.connection() as conn:
                await pending.mark_published(conn, confirmed)
                await pending.release(conn, batch.token, [s for s in batch.seqs if s not in done])
        except Exception:
            # the leases run out and the rows are sent again: duplicates, never losses
            log.exception("relay: could not record the publication of %d events", len(done))
