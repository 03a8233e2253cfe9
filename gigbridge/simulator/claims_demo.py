"""The demo's provincial insurer over Kafka (``make run``): reads the insured incidents the hub
routes to ``gov.insurance.<province>.incidents`` and answers each with the claim's life on
``gov.insurance.<province>.claim-status``, so claim states move in the demo.

:class:`ClaimSchedule` is pure: the statuses, decisions and reasons come from
:class:`gigbridge.simulator.insurer.SimulatedInsurer`, but the demo compresses the days into
seconds (one step every ``step_s``, each update stamped when it is sent, since the hub refuses
updates from the future). A share ``overdue_share`` of the claims is received 8 days back and
never determined, which the hub counts as overdue determinations
(``gigbridge_claims_determination_overdue``); that back-dating is a demo device.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from typing import Callable

from gigbridge.logs import get_logger
from gigbridge.simulator.insurer import SimulatedInsurer
from streams.core.cover.workdays import WorkCalendar

log = get_logger("gigbridge.simulate.claims")

DAY_MS = 86_400_000
OVERDUE_BACKDATE_MS = 8 * DAY_MS  # past 5 working days whatever the week


class ClaimSchedule:
    """Updates to send, each when due. ``add`` plans a claim for an insured incident, ``due``
    returns (in order) the updates whose time has come, stamped with that time."""

    def __init__(self, calendar: WorkCalendar, *, seed: int = 7, step_s: float = 10.0,
                 overdue_share: float = 0.1, claim_prefix: str = "DEMO-OIP") -> None:
        self.insurer = SimulatedInsurer(calendar, seed=seed, claim_prefix=claim_prefix)
        self.rng = random.Random(seed)
        self.step_ms = int(step_s * 1000)
        self.overdue_share = overdue_share
        self._queue: list[tuple[int, int, dict, bool]] = []  # (due, order, update, stamp when sent)
        self._order = itertools.count()

    def add(self, incident: dict, now_ms: int) -> None:
        updates = self.insurer.claim_updates(incident)
        if self.rng.random() < self.overdue_share:
            self._push(now_ms + self.step_ms, dict(updates[0], occurred_at=now_ms - OVERDUE_BACKDATE_MS), False)
            return
        for i, update in enumerate(updates, start=1):
            self._push(now_ms + i * self.step_ms, update, True)

    def _push(self, at_ms: int, update: dict, stamp: bool) -> None:
        heapq.heappush(self._queue, (at_ms, next(self._order), update, stamp))

    def due(self, now_ms: int) -> list[dict]:
        out = []
        while self._queue and self._queue[0][0] <= now_ms:
            at_ms, _, update, stamp = heapq.heappop(self._queue)
            out.append(dict(update, occurred_at=at_ms) if stamp else update)
        return out

    def __len__(self) -> int:
        return len(self._queue)


def run_demo_insurer(settings, province: str, should_stop: Callable[[], bool], *,
                     clock: Callable[[], float] = time.time) -> None:
    """Answer the province's insured incidents until ``should_stop()`` (a thread of ``gigbridge demo``)."""
    from kafka import KafkaConsumer, KafkaProducer

    from gigbridge.topics_admin import TopicAdmin
    from schemas.catalog import default_catalog
    from schemas.wire import WireFormatError, decode, encode
    from streams.core.cover.claim_flow import claim_status_topic
    from streams.core.route import insurance_topic
    from streams.loaders.cover import load_calendar

    catalog = default_catalog()
    version = catalog.contract("claim_status").latest
    incidents, claims = insurance_topic(province), claim_status_topic(province)
    admin = TopicAdmin(settings)
    try:
        admin.ensure([incidents, claims])
    finally:
        admin.close()
    # a prefix per run: a restarted demo must not reuse the claim references of the last one
    schedule = ClaimSchedule(load_calendar(), claim_prefix=f"DEMO-{int(clock())}")
    consumer = KafkaConsumer(incidents, group_id=f"insurer.demo-{province}.claims", auto_offset_reset="latest",
                             **settings.kafka_python_config)
    producer = KafkaProducer(acks="all", client_id=f"demo-insurer-{province}", **settings.kafka_python_config)
    sent = 0
    try:
        while not should_stop():
            for batch in consumer.poll(timeout_ms=1000).values():  # waits for records, at most 1 s
                for message in batch:
                    try:
                        schedule.add(decode(catalog, message.value).record, int(clock() * 1000))
                    except (WireFormatError, KeyError):
                        continue  # not an incident the demo insurer understands
            for update in schedule.due(int(clock() * 1000)):
                producer.send(claims, key=update["claim_ref"].encode(), value=encode(version, update))
                sent += 1
    finally:
        producer.flush()
        producer.close()
        consumer.close()
        log.info("demo insurer stopped", province=province, claim_updates=sent, pending=len(schedule))
