"""Liveness, readiness and graceful shutdown of a stream worker.

* ``/healthz`` (liveness): the event loop is responsive. A heartbeat task ticks every
  ``beat_interval_s``; the page answers 503 when the last tick is older than
  ``loop_stale_s`` (a loop blocked for that long cannot even serve the page: the probe's own
  timeout catches that case). Restart the process when it fails.
* ``/readyz`` (readiness): 200 only when the worker has started, the Kafka cluster answered a
  metadata request within the last ``broker_stale_s`` seconds (probed every
  ``probe_interval_s``), the validation batch loop is not *stuck*, and the worker is not
  shutting down. 503 otherwise, with the reasons in the JSON body. Stuck: a validation batch has been in
  flight for ``stuck_after_s``, or a partition of the subscribed ingest topics has had records
  beyond its position (the group's committed offset, or the next offset this worker will
  process) for ``stuck_after_s`` without that position moving. Every partition is watched, not
  only the ones this worker owns: a partition the group assigned to nobody, or whose consumer
  silently stopped fetching, is exactly what must be noticed; so with several workers of one
  app, all of them report a partition the group does not progress on. Positions and end offsets
  come from the broker (:class:`KafkaProbe`), not from the consumer's cached high watermarks.
* Graceful shutdown (:class:`GracefulWorker`, SIGTERM/SIGINT): before Faust stops anything,
  the worker stops taking new batches (the ingest loop's and the delivery agents'), lets the
  batches in flight finish (outputs acknowledged, input offsets committed) for at most
  ``SHUTDOWN_GRACE_S`` seconds, and leaves the ingest group; then the usual Faust shutdown of
  the hosting app (``streams.runtime.app``) runs, and exits 0. Whatever was not finished is re-read by the next
  owner of the partition (at-least-once), never lost. If the whole stop takes longer than
  ``SHUTDOWN_BOUND_S`` (e.g. the broker is gone and Faust waits for it forever), the process
  exits with ``EXIT_STOP_TIMEOUT`` (70).
* ``gigbridge_worker_ready`` (gauge on ``/metrics``): 1 when readiness holds, 0 when not (the
  reasons are on ``/readyz``). Every readiness evaluation sets it: the heartbeat's (every
  ``beat_interval_s``), so it is current at scrape time, and each ``/readyz`` request's. It is 0
  from import until the heartbeat first finds the worker ready. Alert ``GigbridgeWorkerNotReady``.

:class:`WorkerHealth` is pure state with an injected clock (unit-testable with a fake one);
:class:`KafkaProbe` and the heartbeat are two small async loops; only :class:`GracefulWorker`
needs Faust.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from typing import Any, Awaitable, Callable, Mapping

import faust
from prometheus_client import Gauge

from gigbridge.logs import get_logger

log = get_logger("gigbridge.health")

BROKER_STALE_S = 15.0     # readiness fails when the last good metadata answer is older
PROBE_INTERVAL_S = 2.0
PROBE_TIMEOUT_S = 5.0
OFFSETS_EVERY = 5         # probe rounds per offsets round (end, earliest, committed)
STUCK_AFTER_S = 120.0     # a partition waiting this long without moving (or a batch this long in flight)
LOOP_STALE_S = 10.0
BEAT_INTERVAL_S = 0.5
SHUTDOWN_GRACE_S = 15.0   # in-flight batches get this long to finish on SIGTERM
ANCHOR_TOPIC = "hub.dlq"  # always exists (the worker creates it): the probe's metadata request names it
SHUTDOWN_BOUND_S = 25.0   # the whole stop; then the process exits regardless
EXIT_STOP_TIMEOUT = 70    # EX_SOFTWARE: stopped, but not cleanly within the bound

# One series per worker, no reason label: the reasons are on /readyz (a reason label would be
# bounded, but several reasons hold at once and each would need its own 0/1 series).
WORKER_READY = Gauge("gigbridge_worker_ready",
                     "1 when the worker is ready (/readyz answers 200), 0 when not (reasons on /readyz)")


class WorkerHealth:
    """Health state of one worker process. ``clock`` is monotonic seconds."""

    def __init__(self, *, broker_stale_s: float = BROKER_STALE_S, stuck_after_s: float = STUCK_AFTER_S,
                 loop_stale_s: float = LOOP_STALE_S, clock: Callable[[], float] = time.monotonic,
                 ready_gauge: Gauge = WORKER_READY) -> None:
        self.broker_stale_s = broker_stale_s
        self.stuck_after_s = stuck_after_s
        self.loop_stale_s = loop_stale_s
        self.clock = clock
        now = clock()
        self.started = False
        self.draining = False
        self.last_beat = now
        self.loop_lag_s = 0.0
        self.last_broker_ok: float | None = None
        self.broker_error: str | None = None
        self.inflight = 0                          # batches in flight (validation and delivery)
        self.validation_since: float | None = None  # start of the validation batch in flight
        self.last_progress = now
        # key -> (position, end offset) of every watched ingest partition, from the probe
        self.partitions: Callable[[], Mapping[Any, tuple[int, int]]] = lambda: {}
        self.waiting: dict[Any, tuple[int, float]] = {}  # key -> (position, waiting since)
        self._idle: asyncio.Event | None = None
        self.ready_gauge = ready_gauge  # set by every readiness evaluation
        ready_gauge.set(0)  # "starting"

    # --- batches -----------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self, validation: bool = True):
        """Wrap the processing of one batch (the drain waits for it); a validation batch that
        returns normally counts as progress, one in flight too long as stuck. Delivery batches
        (``validation=False``) may wait for a down endpoint as long as it takes."""
        self.inflight += 1
        self._idle_event().clear()
        if validation:
            self.validation_since = self.clock()
        try:
            yield
            if validation:
                self.last_progress = self.clock()
        finally:
            if validation:
                self.validation_since = None
            self.inflight -= 1
            if self.inflight == 0:
                self._idle_event().set()

    def _idle_event(self) -> asyncio.Event:
        if self._idle is None:
            self._idle = asyncio.Event()
            if self.inflight == 0:
                self._idle.set()
        return self._idle

    async def wait_idle(self, timeout: float) -> bool:
        """True once no batch is in flight; False if ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle_event().wait()
            return True
        except TimeoutError:
            return False

    # --- observations ------------------------------------------------------------------

    def broker_ok(self) -> None:
        self.last_broker_ok = self.clock()
        self.broker_error = None

    def broker_failed(self, error: str) -> None:
        self.broker_error = error

    def observe(self) -> None:
        """Note which partitions have input waiting and since when their position has not
        moved (called every heartbeat and on every readiness request)."""
        now = self.clock()
        try:
            state = self.partitions()
        except Exception:  # noqa: BLE001 - the consumer may be between assignments
            return
        waiting = {}
        for key, (position, end) in state.items():
            if end > position:
                before = self.waiting.get(key)
                waiting[key] = before if before is not None and before[0] == position else (position, now)
        self.waiting = waiting

    def stuck_for(self) -> float:
        """Seconds the longest-waiting partition (or the validation batch in flight) has not
        moved; 0 when nothing waits."""
        now = self.clock()
        ages = [now - since for _, since in self.waiting.values()]
        if self.validation_since is not None:
            ages.append(now - self.validation_since)
        return max(ages, default=0.0)

    # --- the two probes ----------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        age = self.clock() - self.last_beat
        ok = age <= self.loop_stale_s
        return ok, {"status": "ok" if ok else "event loop unresponsive",
                    "last_beat_age_s": round(age, 3), "loop_lag_s": round(self.loop_lag_s, 3)}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        self.observe()
        now = self.clock()
        reasons = []
        if not self.started:
            reasons.append("starting")
        if self.draining:
            reasons.append("shutting down")
        broker_age = None if self.last_broker_ok is None else now - self.last_broker_ok
        if broker_age is None or broker_age > self.broker_stale_s:
            reasons.append("kafka unreachable")
        stuck = self.stuck_for()
        if stuck > self.stuck_after_s:
            reasons.append("validation stuck")
        live, _ = self.liveness()
        if not live:
            reasons.append("event loop unresponsive")
        doc = {"status": "ready" if not reasons else "not ready", "reasons": reasons,
               "kafka_last_ok_age_s": None if broker_age is None else round(broker_age, 3),
               "kafka_error": self.broker_error, "batches_in_flight": self.inflight,
               "input_waiting_s": round(stuck, 3), "partitions_waiting": len(self.waiting),
               "since_last_batch_s": round(now - self.last_progress, 3)}
        self.ready_gauge.set(0 if reasons else 1)
        return not reasons, doc

    # --- background loops --------------------------------------------------------------

    async def heartbeat(self, interval: float = BEAT_INTERVAL_S) -> None:
        while True:
            before = self.clock()
            await asyncio.sleep(interval)
            now = self.clock()
            self.loop_lag_s = max(0.0, now - before - interval)
            self.last_beat = now
            self.readiness()  # observes the partitions and sets gigbridge_worker_ready

    async def probe_kafka(self, probe: Callable[[], Awaitable[None]], interval: float = PROBE_INTERVAL_S,
                          timeout: float = PROBE_TIMEOUT_S) -> None:
        """Call ``probe`` (raises when the cluster does not answer) every ``interval`` seconds."""
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that
                # arrives as the probe finishes, and this loop would then never stop.
                async with asyncio.timeout(timeout):
                    await probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                if self.broker_error is None:
                    log.warning("kafka probe failed", error=f"{type(exc).__name__}: {exc}")
                self.broker_failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            else:
                if self.broker_error is not None:
                    log.info("kafka probe ok again")
                self.broker_ok()
            await asyncio.sleep(interval)


class KafkaProbe:
    """One round trip to the cluster: a metadata request, then for every partition of
    ``topics()`` (the subscribed ingest topics) the end offsets, the earliest offsets and the
    group's committed offsets. Its own clients,
    independent of Faust's consumer and producer, so a probe never competes with them, and the
    offsets are the broker's, not the consumer's cached high watermarks (which stop moving when
    the consumer stops fetching). Created lazily inside the event loop; the last answers stay
    in ``end_offsets``, ``begin_offsets`` and ``committed`` (keys ``(topic, partition)``)."""

    def __init__(self, client_config: dict, group_id: str | None = None,
                 topics: Callable[[], list] = lambda: []) -> None:
        self.config = client_config
        self.group_id = group_id
        self.topics = topics
        self.consumer = None
        self.admin = None
        self.end_offsets: dict = {}
        self.begin_offsets: dict = {}
        self.committed: dict = {}
        self.rounds = 0

    async def __call__(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        timeout_ms = int(PROBE_TIMEOUT_S * 1000)
        if self.consumer is None:
            consumer = AIOKafkaConsumer(client_id="gigbridge-health", group_id=None, enable_auto_commit=False,
                                        request_timeout_ms=timeout_ms, **self.config)
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self.consumer = consumer
        # A metadata request for the watched topics only: a request for all topics costs the
        # worker a full decode of the cluster's metadata (tens of thousands of office partitions).
        client = self.consumer._client  # noqa: SLF001 - aiokafka has no public metadata request
        for topic in (ANCHOR_TOPIC, *self.topics()):
            client.add_topic(topic)
        if not await client.force_metadata_update():
            raise ConnectionError("no broker answered a metadata request")
        self.rounds += 1
        if (self.rounds - 1) % OFFSETS_EVERY:  # offsets every few rounds: stuck is measured in minutes
            return
        cluster = self.consumer._client.cluster  # noqa: SLF001 - metadata just fetched
        tps = [TopicPartition(t, p) for t in self.topics() for p in sorted(cluster.partitions_for_topic(t) or ())]
        if not tps:
            self.end_offsets = {}
            return
        ends = await self.consumer.end_offsets(tps)
        begins = await self.consumer.beginning_offsets(tps)
        committed = {}
        if self.group_id:
            if self.admin is None:
                admin = AIOKafkaAdminClient(client_id="gigbridge-health", request_timeout_ms=timeout_ms,
                                            **self.config)
                await admin.start()
                self.admin = admin
            found = await self.admin.list_consumer_group_offsets(self.group_id, partitions=tps)
            committed = {(tp.topic, tp.partition): meta.offset for tp, meta in found.items()
                         if meta is not None and meta.offset >= 0}
        self.end_offsets = {(tp.topic, tp.partition): o for tp, o in ends.items()}
        self.begin_offsets = {(tp.topic, tp.partition): o for tp, o in begins.items()}
        self.committed = committed

    async def close(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        if self.admin is not None:
            await self.admin.close()
            self.admin = None


class GracefulWorker(faust.Worker):
    """A Faust worker whose stop begins with ``drain()`` (bounded by the drain itself), before
    Faust pauses the consumer, stops the tables and cancels the agents.

    The whole stop is bounded by ``stop_bound_s``: Faust's own shutdown waits without limit for
    the producer to flush and the consumer to commit, so with the broker gone it would never
    exit. Past the bound the process exits with ``EXIT_STOP_TIMEOUT``; that is safe, because
    offsets are committed only for finished batches (at-least-once: the rest is re-read)."""

    def __init__(self, *args: Any, drain: Callable[[], Awaitable[None]],
                 after_stop: Callable[[], Awaitable[None]] | None = None,
                 stop_bound_s: float = SHUTDOWN_BOUND_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drain = drain
        self._after_stop = after_stop
        self._stop_bound_s = stop_bound_s

    async def on_stop(self) -> None:
        watchdog = threading.Timer(self._stop_bound_s, _exit_after_bound, args=(self._stop_bound_s,))
        watchdog.daemon = True
        watchdog.start()
        try:
            await self._drain()
        except Exception as exc:  # noqa: BLE001 - a failed drain must not prevent the stop
            log.warning("drain before shutdown failed", error=f"{type(exc).__name__}: {exc}")
        await super().on_stop()

    async def on_shutdown(self) -> None:
        """After the app (its agents included) has stopped: ``after_stop`` (the writer the agents
        wrote with; closed earlier, an agent's step in flight failed and was acknowledged unapplied)."""
        await super().on_shutdown()
        if self._after_stop is not None:
            await self._after_stop()


def _exit_after_bound(bound_s: float) -> None:
    log.error("shutdown did not finish in time; exiting without waiting any longer", bound_s=bound_s,
              exit_code=EXIT_STOP_TIMEOUT)
    os._exit(EXIT_STOP_TIMEOUT)
