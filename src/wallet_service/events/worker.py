"""The messaging side of a process: the relay and the consumer, started and stopped together.
Used by `serve` (when AMQP_URL is set) and by `wallet-service worker` (relay and consumer alone,
to scale them out apart from the API)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from wallet_service.config import Settings
from wallet_service.db.pool import Database
from wallet_service.errors import ServiceUnavailable
from wallet_service.events.consumer import Consumer, Topology
from wallet_service.events.relay import Relay, RelayConfig
from wallet_service.ledger.engine import Ledger
from wallet_service.users.client import UserDirectory, attach

log = logging.getLogger(__name__)


class Messaging:
    """The relay and the consumer of one process."""

    def __init__(
        self,
        ledger: Ledger,
        amqp_url: str,
        *,
        relay: RelayConfig | None = None,
        topology: Topology | None = None,
    ):
        self.relay = Relay(ledger.db, amqp_url, relay)
        self.consumer = Consumer(ledger, amqp_url, topology)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.relay.run(), name="relay"),
            asyncio.create_task(self.consumer.run(), name="consumer"),
        ]

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Stop consuming and let the messages in hand finish, finish the relay's batch, close.
        Whatever is not finished in time stays unacked or unpublished and is taken up again."""
        self.consumer.stop()
        self.relay.stop()
        _, late = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def probe(self) -> None:
        """Readiness: both the relay and the consumer hold a broker connection."""
        down = [
            name
            for name, part in (("relay", self.relay), ("consumer", self.consumer))
            if not part.connected
        ]
        if down:
            raise ServiceUnavailable(f"RabbitMQ not connected ({', '.join(down)})")


def attach_user_directory(db: Database, settings: Settings) -> UserDirectory | None:
    """When USER_SERVICE_URL is set, let this process ask it about unknown users."""
    if not settings.user_service_url:
        return None
    directory = UserDirectory(settings.user_service_url)
    attach(db, directory)
    return directory


async def run_worker(settings: Settings, dsn: str) -> None:
    """`wallet-service worker`: relay and consumer until SIGINT/SIGTERM, then a graceful stop."""
    assert settings.amqp_url
    db = await Database.connect(dsn, max_size=settings.db_pool_size)
    directory = attach_user_directory(db, settings)
    ledger = Ledger(db, settings.group_commit_settings())
    ledger.start()
    messaging = Messaging(ledger, settings.amqp_url)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    messaging.start()
    log.info("worker: relaying the outbox and consuming %s", messaging.consumer.topology.inbox)
    try:
        await stopping.wait()
    finally:
        log.info("worker: stopping")
        await messaging.stop()
        await ledger.close()
        if directory is not None:
            await directory.aclose()
        await db.close()
