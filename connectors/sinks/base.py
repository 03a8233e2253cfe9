"""One delivery interface for every outbound sink (insurer HTTP endpoints, office webhooks,
in-memory test sinks, Kafka topics).

Usage by a caller (e.g. a Faust agent)::

    sink.add(SinkRecord(key=..., value=payload, idempotency_key=event_id, meta=event))
    outcomes = await sink.flush()        # one Delivered | DeadLetter per added record, in order
    ...write receipts / dead letters durably, then commit the offsets...

Guarantees of every :class:`Sink`:

* **At-least-once.** A record may reach the destination more than once (a timeout after the
  destination already accepted it, a flush cancelled after some deliveries, a crash before the
  offset commit); the destination deduplicates by ``idempotency_key`` (the ``event_id``).
* **flush never raises for one record's permanent failure**: that record's outcome is a
  :class:`DeadLetter`, the other records are still delivered.
* **Transient failures are retried forever** (with backoff) while they persist; flush only
  returns once *every* record has a final outcome. It can be interrupted by cancelling the
  flush task (``CancelledError``) or by :meth:`Sink.stop` (:class:`SinkStopped`); either way
  nothing buffered is lost: every record added since the last *successful* flush stays
  buffered, and a record that already got its final outcome keeps it (the next flush returns
  it again without re-sending).
* Records added while a flush runs are not part of it; they wait for the next flush.
"""

from __future__ import annotations

import abc
import asyncio
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from gigbridge.logs import get_logger

log = get_logger("connectors.sink")

MAX_RESPONSE_BODY = 4096  # bytes of a response body kept in a DeadLetter


@dataclass(frozen=True)
class SinkRecord:
    """One record to deliver.

    ``value`` is the JSON-able payload; ``idempotency_key`` is the event id (the destination
    deduplicates on it); ``key`` orders records: records with the same non-None key are
    delivered one after the other in the order they were added. ``headers`` are extra
    transport headers (the sink's own headers win on a clash). ``meta`` is opaque to sinks
    (e.g. the Kafka event the record came from) and handed back in the outcome.
    """

    key: str | None
    value: Mapping[str, Any]
    idempotency_key: str
    headers: Mapping[str, str] = field(default_factory=dict)
    meta: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.idempotency_key, str) or not self.idempotency_key:
            raise ValueError("SinkRecord.idempotency_key must be a non-empty str (the event_id)")

    def __hash__(self) -> int:  # value/headers are dicts: identity of a record is its keys
        return hash((self.key, self.idempotency_key))


@dataclass(frozen=True)
class Delivered:
    """The destination accepted the record. ``receipt`` is JSON-able, e.g.
    ``{"claim_reference": "CLM-1", "status": 200, "latency_ms": 12.5, "attempts": 1}``."""

    record: SinkRecord
    status: int
    receipt: Mapping[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    """The record can never be delivered as is. ``reason`` is a bounded code (``http_400``,
    ``unserializable``...), ``response_body`` at most 4 KiB of what the destination said."""

    record: SinkRecord
    status: int | None
    reason: str
    response_body: str = ""


# What became of one record handed to a sink (``streams.core.classify.Outcome`` is what became of an
# ingest message).
DeliveryOutcome = Delivered | DeadLetter


class SinkError(Exception):
    """Base of the errors below."""


class RetryableError(SinkError):
    """Transient: network error, timeout, 5xx, 408, 429. Retried with backoff, forever."""

    def __init__(self, message: str = "", *, reason: str = "transient", status: int | None = None,
                 retry_after: float | None = None, body: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.body = body


class PermanentError(SinkError):
    """The record can never be delivered as is (4xx other than 408/429, invalid payload)."""

    def __init__(self, message: str = "", *, status: int | None = None, body: str | bytes = "",
                 reason: str | None = None) -> None:
        self.status = status
        self.reason = reason or (f"http_{status}" if status is not None else "permanent")
        self.body = truncate_body(body)
        super().__init__(message or self.reason)


class SinkStopped(SinkError):
    """Raised by ``flush`` once ``stop()`` was called; the records stay buffered."""


def truncate_body(body: str | bytes | None, limit: int = MAX_RESPONSE_BODY) -> str:
    """At most ``limit`` bytes of ``body`` (UTF-8), decoded leniently."""
    if body is None:
        return ""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    if len(raw) <= limit:
        return raw.decode("utf-8", "replace")
    # errors="ignore" drops a multi-byte character cut in half at the limit.
    return raw[:limit].decode("utf-8", "ignore")


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**attempt))``.

    ``attempt`` is 0 for the first retry. The exponent is clamped so endless retries never
    overflow.
    """
    bound = min(cap_s, base_s * (2.0 ** min(max(attempt, 0), 62)))
    return rng.uniform(0.0, bound)


@dataclass(frozen=True)
class RetryInfo:
    """Passed to the ``on_retry`` hook before every backoff sleep."""

    sink: str
    record: SinkRecord
    attempt: int            # the attempt that just failed (1 = first try)
    reason: str             # bounded: timeout, connection_error, http_503, ...
    status: int | None
    delay_s: float          # how long the sink is about to wait


class Sink(abc.ABC):
    """add() buffers; flush() delivers everything buffered and returns one outcome per record,
    in order.

    Guarantees: at-least-once; flush never raises for a single record's permanent failure (it
    becomes a :class:`DeadLetter` outcome); while retryable failures persist, flush keeps
    retrying with backoff (it may be cancelled; nothing buffered is lost — un-flushed records
    stay buffered) until :meth:`stop` is called, which makes it raise :class:`SinkStopped`.
    See the module docstring for the details.
    """

    name: str = "sink"

    async def start(self) -> None:
        """Acquire resources (sessions, producers). ``flush`` calls it when needed."""

    async def stop(self) -> None:
        """Interrupt a running flush (it raises :class:`SinkStopped`) and release resources.
        Buffered records are kept; ``start()`` may be called again."""

    @abc.abstractmethod
    def add(self, record: SinkRecord) -> None:
        """Buffer one record (no I/O)."""

    @abc.abstractmethod
    async def flush(self) -> list[DeliveryOutcome]:
        """Deliver everything buffered; one outcome per record, in the order added."""

    @property
    @abc.abstractmethod
    def pending(self) -> int:
        """Records added and not yet returned by a successful flush."""

    @property
    def paused(self) -> bool:
        """True while the sink is backing off from a transient failure (readiness/metrics)."""
        return False

    async def __aenter__(self) -> "Sink":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@dataclass
class _Entry:
    record: SinkRecord
    outcome: DeliveryOutcome | None = None


Sleep = Callable[[float], Awaitable[None]]
RetryHook = Callable[[RetryInfo], None]


class BufferedSink(Sink):
    """The buffering / ordering / retry machinery shared by per-record sinks.

    A subclass implements :meth:`_attempt` (one try at one record): return
    ``(status, receipt)`` on success, raise :class:`RetryableError` or :class:`PermanentError`.
    ``flush`` runs up to ``concurrency`` records at a time, records sharing a ``key`` strictly
    one after the other, and retries each record forever with exponential backoff + full
    jitter, honouring ``retry_after`` (capped at ``max_retry_after_s``).
    """

    def __init__(self, name: str, *, sleep: Sleep = asyncio.sleep, rng: random.Random | None = None,
                 base_backoff_s: float = 0.5, max_backoff_s: float = 60.0,
                 max_retry_after_s: float = 300.0, concurrency: int = 8,
                 on_retry: RetryHook | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.name = name
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.concurrency = concurrency
        self._on_retry = on_retry
        self._buffer: list[_Entry] = []
        self._flush_lock = asyncio.Lock()
        self._stop_event = asyncio.Event()
        self._stopped = False
        self._started = False
        self._backing_off = 0

    # --- public API ---------------------------------------------------------------------
    def add(self, record: SinkRecord) -> None:
        if not isinstance(record, SinkRecord):
            raise TypeError(f"expected SinkRecord, got {type(record).__name__}")
        self._buffer.append(_Entry(record))

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def paused(self) -> bool:
        return self._backing_off > 0

    @property
    def stopped(self) -> bool:
        return self._stopped

    def discard(self) -> list[SinkRecord]:
        """Drop every buffered record and return them (e.g. after a partition was revoked: the
        new owner re-reads them). Not allowed while a flush runs."""
        if self._flush_lock.locked():
            raise RuntimeError("discard() while a flush is running; cancel it first")
        dropped = [e.record for e in self._buffer]
        self._buffer.clear()
        return dropped

    async def start(self) -> None:
        self._stopped = False
        self._stop_event.clear()
        if not self._started:
            await self._open()
            self._started = True

    async def stop(self) -> None:
        self._stopped = True
        self._stop_event.set()
        async with self._flush_lock:  # a running flush notices the event and exits first
            if self._started:
                self._started = False
                await self._close()

    async def flush(self) -> list[DeliveryOutcome]:
        async with self._flush_lock:
            if self._stopped:
                raise SinkStopped(f"sink {self.name} is stopped")
            if not self._started:
                await self.start()
            batch = list(self._buffer)
            if not batch:
                return []
            await self._run(batch)
            del self._buffer[: len(batch)]  # add() only appends, so the batch is the prefix
            return [e.outcome for e in batch]  # type: ignore[misc]

    # --- hooks for subclasses -----------------------------------------------------------
    async def _open(self) -> None:
        """Acquire resources (called by start)."""

    async def _close(self) -> None:
        """Release resources (called by stop)."""

    @abc.abstractmethod
    async def _attempt(self, record: SinkRecord, attempt: int) -> tuple[int, dict[str, Any]]:
        """One try at delivering ``record`` (``attempt`` starts at 1)."""

    # --- machinery ----------------------------------------------------------------------
    async def _run(self, batch: Sequence[_Entry]) -> None:
        groups: OrderedDict[object, list[_Entry]] = OrderedDict()
        for i, entry in enumerate(batch):
            if entry.outcome is None:
                group_key = ("k", entry.record.key) if entry.record.key is not None else ("i", i)
                groups.setdefault(group_key, []).append(entry)
        if not groups:
            return
        queue = list(groups.values())
        queue.reverse()

        async def worker() -> None:
            while queue:
                for entry in queue.pop():
                    entry.outcome = await self._deliver(entry.record)

        workers = [asyncio.create_task(worker(), name=f"{self.name}-deliver")
                   for _ in range(min(self.concurrency, len(queue)))]
        everything = asyncio.gather(*workers)
        stop_wait = asyncio.create_task(self._stop_event.wait())
        try:
            done, _ = await asyncio.wait({everything, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if everything not in done:
                raise SinkStopped(f"sink {self.name} stopped during flush; records stay buffered")
            everything.result()  # an unexpected bug in a subclass surfaces here
        finally:
            for w in workers:
                w.cancel()
            stop_wait.cancel()
            everything.cancel()
            await asyncio.gather(*workers, stop_wait, return_exceptions=True)
            if everything.done() and not everything.cancelled():
                everything.exception()  # mark retrieved

    async def _deliver(self, record: SinkRecord) -> DeliveryOutcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                status, receipt = await self._attempt(record, attempt)
            except PermanentError as exc:
                log.warning("sink dead letter", sink=self.name, event_id=record.idempotency_key,
                            status=exc.status, reason=exc.reason, attempts=attempt)
                return DeadLetter(record, exc.status, exc.reason, exc.body)
            except RetryableError as exc:
                delay = self._retry_delay(exc, attempt)
                info = RetryInfo(self.name, record, attempt, exc.reason, exc.status, delay)
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("sink retrying", sink=self.name, event_id=record.idempotency_key,
                                reason=exc.reason, status=exc.status, attempt=attempt,
                                delay_s=round(delay, 3))
                if self._on_retry is not None:
                    try:
                        self._on_retry(info)
                    except Exception:  # a metrics hook must never break delivery
                        log.exception("on_retry hook failed", sink=self.name)
                self._backing_off += 1
                try:
                    await self._sleep(delay)
                    await asyncio.sleep(0)  # even an injected no-op sleep lets stop() in
                finally:
                    self._backing_off -= 1
                continue
            return Delivered(record, status, {**receipt, "attempts": attempt})

    def _retry_delay(self, exc: RetryableError, attempt: int) -> float:
        if exc.retry_after is not None and exc.retry_after > 0:
            return min(float(exc.retry_after), self.max_retry_after_s)
        return backoff_delay(attempt - 1, self.base_backoff_s, self.max_backoff_s, self._rng)
