"""The gateway's Kafka producer: idempotent, ``acks=all``, connected in the background.

``send_batch`` returns only when the broker acknowledged EVERY record of a request, or raises
:class:`ProduceError` (not connected, broker error, deadline passed). The gateway then answers
503 and reports nothing as accepted; records that did reach the log before the failure are
repeats when the platform retries, and the stream's dedupe (by ``event_id``) drops them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Iterable, Mapping, Protocol, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gigbridge.logs import get_logger

__all__ = ["EventProducer", "KafkaEventProducer", "ProduceError"]

log = get_logger("connectors.gateway.producer")


class ProduceError(Exception):
    """The records of a request could not all be delivered (the client should retry)."""


class EventProducer(Protocol):
    """What the gateway needs from a producer (inject another implementation in tests)."""

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_batch(self, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                         timeout_s: float, *, headers: Sequence[tuple[str, bytes]] = ()) -> None: ...


class KafkaEventProducer:
    """:class:`aiokafka.AIOKafkaProducer` with acks=all + idempotence, started in the background.

    The constructor does no I/O. :meth:`start` returns at once and keeps trying to connect
    (with backoff) until it succeeds; :attr:`ready` says whether it has.
    """

    def __init__(self, kafka_config: Mapping[str, Any], *, client_id: str = "gigbridge-gateway",
                 request_timeout_ms: int = 15_000, linger_ms: int = 5,
                 retry_backoff_s: tuple[float, float] = (0.25, 5.0)) -> None:
        self._config = {k: v for k, v in kafka_config.items() if v is not None}
        if isinstance(self._config.get("bootstrap_servers"), (list, tuple)):
            self._config["bootstrap_servers"] = ",".join(self._config["bootstrap_servers"])
        self._client_id = client_id
        self._request_timeout_ms = request_timeout_ms
        self._linger_ms = linger_ms
        self._backoff = retry_backoff_s
        self._producer: AIOKafkaProducer | None = None
        self._connect_task: asyncio.Task | None = None
        self._ready = False
        self._stopping = False
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "KafkaEventProducer":
        return cls(settings.aiokafka_config, **kwargs)

    @property
    def ready(self) -> bool:
        """Started (bootstrapped) and not stopping: deliveries are attempted."""
        return self._ready and not self._stopping

    async def check(self, timeout_s: float = 2.0) -> bool:
        """Readiness probe: connected AND a metadata refresh succeeds within ``timeout_s`` (so a
        broker that went away after start-up is noticed)."""
        producer = self._producer
        if producer is None or not self.ready:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await producer.client.force_metadata_update())
        except (TimeoutError, KafkaError):
            return False

    async def start(self) -> None:
        if self._connect_task is None:
            self._stopping = False
            self._connect_task = asyncio.create_task(self._connect_loop(), name="gateway-producer-connect")

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until connected (tests, ``serve``); False at the deadline."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self.ready:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def _connect_loop(self) -> None:
        delay = self._backoff[0]
        while not self._stopping:
            producer = AIOKafkaProducer(
                client_id=self._client_id, acks="all", enable_idempotence=True,
                request_timeout_ms=self._request_timeout_ms, linger_ms=self._linger_ms,
                **self._config)
            try:
                await producer.start()
            except Exception as exc:  # KafkaConnectionError, auth errors, ...  # noqa: BLE001
                self.last_error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("gateway producer cannot connect yet", error=self.last_error, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._producer = producer
            self._ready = True
            self.last_error = None
            log.info("gateway producer connected")
            return

    async def stop(self) -> None:
        self._stopping = True
        self._ready = False
        task, self._connect_task = self._connect_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await producer.stop()

    async def send_batch(self, topic: str, records: Iterable[tuple[bytes | None, bytes]],
                         timeout_s: float, *, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """``headers`` go on every record of the batch."""
        producer = self._producer
        if producer is None or not self.ready:
            raise ProduceError("not connected to Kafka")
        try:
            async with asyncio.timeout(timeout_s):
                futures = [await producer.send(topic, value, key=key, headers=list(headers) or None)
                           for key, value in records]
                await asyncio.gather(*futures)
        except TimeoutError:
            self.last_error = f"no acknowledgement within {timeout_s:g} s on {topic}"
            raise ProduceError(f"Kafka did not acknowledge all records within {timeout_s:g} s") from None
        except KafkaError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise ProduceError(f"Kafka refused the records ({type(exc).__name__})") from None
