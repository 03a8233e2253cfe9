"""Concern-case traffic for ``make run`` (``gigbridge demo``): the seeded cases of
:mod:`gigbridge.simulator.cases`, submitted over the last ``window_days`` so that, now, some are
handled, some answered late, some transferred across regions, some refused as not the unit's
matter and some silent -- overdue, found by the worker's deadline timer.

Only what has happened by now is sent: each case's steps up to the first one dated in the future.
Cases whose source is a union (they come over HTTP, which is not wired yet) are left out. A case
and its steps travel on different topics (platform, units), so they are sent in rounds -- every
case's first record, then every case's second, ... -- and each round waits until the worker has
handled the previous one (``handled()``, polled with a deadline), so no step overtakes its case.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable, NamedTuple

from kafka import KafkaProducer

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.simulator.cases import CaseSimulator, SimCase
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.cases.lifecycle import apply, open_case
from streams.core.cases.deadlines import overdue
from streams.core.policy import suppress_small
from streams.core.cases.units import UnitBook
from streams.loaders.cases import load_units

log = get_logger("gigbridge.simulate.cases")
DAY_MS = 86_400_000


class CaseMessage(NamedTuple):
    topic: str
    key: str
    contract: str
    record: dict


def case_rounds(cases: list[SimCase], now_ms: int) -> list[list[CaseMessage]]:
    """Round i holds the i-th record (the case, then its steps) of every case that has one by ``now_ms``."""
    rounds: list[list[CaseMessage]] = []
    for sim in cases:
        case = sim.record
        if case["source_kind"] != "PLATFORM" or case["submitted_at"] > now_ms:
            continue
        own = [CaseMessage(f"platform.{case['platform_id']}.cases", case["case_id"], "concern_case", case)]
        for event in sim.events:
            if event["at"] > now_ms:
                break
            sender = (f"platform.{event['actor_id']}" if event["actor_kind"] == "PLATFORM"
                      else f"gov.units.{event['actor_id']}")
            own.append(CaseMessage(f"{sender}.case-events", case["case_id"], "case_event", event))
        for i, message in enumerate(own):
            if i == len(rounds):
                rounds.append([])
            rounds[i].append(message)
    return rounds


def expected_overdue(rounds: list[list[CaseMessage]], units: UnitBook, now_ms: int) -> dict[str, int | None]:
    """Open cases past a deadline now, per urgency over all counties and in all (small counts suppressed as on
    /metrics), from the pure core: the demo's summary line."""
    states = {}
    for message in (m for r in rounds for m in r):
        if message.contract == "concern_case":
            states[message.key] = open_case(message.record, units).state
        else:
            result = apply(states.get(message.key), message.record, units)
            states[message.key] = getattr(result, "state", states.get(message.key))
    late = {b.case_id: b.urgency for b in overdue(states.values(), now_ms)}
    by_urgency = {urgency: suppress_small(n) for urgency, n in sorted(Counter(late.values()).items())}
    return {**by_urgency, "all": suppress_small(len(late))}


def run_case_simulation(settings: Settings, handled: Callable[[], float], *, n: int = 120, seed: int = 16,
                        window_days: int = 20, now_ms: int | None = None, round_timeout_s: float = 60.0) -> Counter:
    """Send ``n`` cases' records (see the module docstring); returns the counts sent per behaviour."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    units = load_units()
    start = now_ms - window_days * DAY_MS
    cases = CaseSimulator(units, seed=seed, start_ms=start, spacing_ms=window_days * DAY_MS // n).cases(n)
    rounds = case_rounds(cases, now_ms)
    admin = TopicAdmin(settings)
    try:
        admin.ensure({m.topic for r in rounds for m in r})
    finally:
        admin.close()
    catalog = default_catalog()
    producer = KafkaProducer(acks="all", client_id="gigbridge-case-simulator", **settings.kafka_python_config)
    target = handled()
    try:
        for messages in rounds:
            for m in messages:
                producer.send(m.topic, key=m.key.encode(), value=encode(catalog.contract(m.contract).latest, m.record))
            producer.flush()
            target += len(messages)
            deadline = time.monotonic() + round_timeout_s
            while handled() < target and time.monotonic() < deadline:
                time.sleep(0.2)  # polling the worker's counter with a deadline
    finally:
        producer.close()
    sent = Counter(sim.behaviour for sim in cases if sim.record["source_kind"] == "PLATFORM")
    late = {urgency: "<k" if n is None else n for urgency, n in expected_overdue(rounds, units, now_ms).items()}
    log.info("case simulation sent", cases=sum(sent.values()), records=sum(len(r) for r in rounds), **sent)
    log.info("cases overdue now, by urgency", **late,
             hint="gigbridge cases list --overdue; gigbridge_cases_* on /metrics")
    return sent
