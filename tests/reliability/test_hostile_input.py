"""Hostile input on the ingest topics: the worker never crashes and every message is accounted
for (one rejection or one dead letter each). Plus, without a broker, ``plan_batch`` over
100,000 random byte strings: it never raises and every message gets exactly one outcome."""

from __future__ import annotations

import random
import time

import pytest

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from streams.core.classify import Accepted, DeadLettered, Rejected
from streams.core.context import Context
from streams.core.plan import InMessage, plan_batch
from streams.core.route import RoutingConfig
from streams.core.topics import ingest_topic
from streams.core.validate import EVENT_TYPES
from tests.reliability import fuzz
from tests.reliability.harness import SEED, Worker, env_int, onboard_platforms, record, unique
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics, wait_until_accounted

pytestmark = pytest.mark.reliability

CATALOG = default_catalog()
DIVISIONS = default_table()
CTX = Context(CATALOG, DIVISIONS.exists, level_of=DIVISIONS.level_of, routing=RoutingConfig())
NOW_MS = 1_700_000_000_000
ACCEPTED_KINDS = {"validated", "office", "insurer", "cover"}


def _random_values(n: int, rng: random.Random):
    """Mostly garbage, biased towards what gets past the first checks: magic byte 0, a known
    schema id, and real records with bytes flipped or cut."""
    ids = sorted(CATALOG.schema_ids)
    pool = [v for _, _, v in fuzz.valid_pool(SEED, 100)]
    for i in range(n):
        roll = i % 4
        if roll == 0:
            yield rng.randbytes(rng.randint(0, 64))
        elif roll == 1:
            yield b"\x00" + rng.choice(ids).to_bytes(4, "big") + rng.randbytes(rng.randint(0, 96))
        elif roll == 2:
            yield fuzz.mutate(rng.choice(pool), rng)
        else:
            v = rng.choice(pool)
            yield v[: rng.randint(0, len(v))]


def _check_plan(messages):
    plan = plan_batch(messages, CTX, lambda m, event_id: False, NOW_MS)
    assert len(plan.decisions) == len(messages)
    for m, d in zip(messages, plan.decisions):
        assert d.message is m
        kinds = {x.kind for x in d.deliveries}
        if isinstance(d.outcome, Accepted):
            least = {"validated"} if d.event_type == "orders" else {"validated", "office"}  # orders: no office
            assert d.duplicate or (least <= kinds <= ACCEPTED_KINDS), kinds
        elif isinstance(d.outcome, Rejected):
            assert [x.kind for x in d.deliveries] == ["rejected"]
        else:
            assert isinstance(d.outcome, DeadLettered) and [x.kind for x in d.deliveries] == ["dlq"]
    return plan


def test_plan_batch_over_100k_random_byte_strings():
    rng = random.Random(SEED)
    n, batch = 100_000, 500
    values = list(_random_values(n, rng))
    outcomes = {"accepted": 0, "rejected": 0, "dlq": 0}
    started = time.monotonic()
    for start in range(0, n, batch):
        msgs = [InMessage(ingest_topic("fuzz-platform", EVENT_TYPES[(start + i) % len(EVENT_TYPES)]), (start + i) % 6,
                          start + i, b"k", v) for i, v in enumerate(values[start:start + batch])]
        for d in _check_plan(msgs).decisions:
            outcomes["accepted" if isinstance(d.outcome, Accepted)
                     else "rejected" if isinstance(d.outcome, Rejected) else "dlq"] += 1
    assert sum(outcomes.values()) == n
    record("plan_batch property (no broker)", None, time.monotonic() - started,
           f"{n} random byte strings: {outcomes}")


def test_fuzz_cases_get_the_outcome_the_ledger_expects():
    """The expectations of the fuzz cases hold offline (so a ledger failure on the broker is the
    hub's, not the generator's)."""
    platform = "fuzz-offline"
    cases = fuzz.generate(2000, SEED) + fuzz.huge_cases(platform, NOW_MS, SEED)
    msgs = [InMessage(ingest_topic(platform, t), 0, i, b"k", v) for i, (_, t, v, _, _) in enumerate(cases)]
    plan = _check_plan(msgs)
    for (label, _, _, kind, reason), d in zip(cases, plan.decisions):
        assert not isinstance(d.outcome, Accepted), label
        if kind == "rejected":
            assert isinstance(d.outcome, Rejected) and d.outcome.rejection.reason == reason, (label, d.outcome)


@pytest.mark.kafka
def test_fuzzing_the_ingest_topics_crashes_nothing_and_loses_nothing(kafka, tmp_path, scenario_timer):
    n = env_int("GIGBRIDGE_FUZZ_CASES", 20_000)
    platform = unique("fuzz")
    onboard_platforms(kafka, [platform])
    worker = Worker(kafka, tmp_path, unique("rel-fuzz")).start()
    traffic = Traffic(kafka, [platform], seed=SEED + 7)
    try:
        cases = fuzz.generate(n, SEED) + fuzz.huge_cases(platform, int(time.time() * 1000), SEED)
        worker.wait_subscribed(3)
        for label, event_type, value, kind, reason in cases:
            traffic.send(*traffic.raw_case(platform, event_type, value, kind=kind, reason=reason, label=label))
        traffic.flush()
        # bounds that grow with the count (100,000 cases take minutes on a shared 2-core machine)
        wait_for(lambda: worker.received() >= len(cases), max(300, len(cases) / 100),
                 f"worker read all {len(cases)} cases", interval=1)
        report = wait_until_accounted(kafka, traffic, "fuzz", max(120, len(cases) / 500),
                                      read_timeout_s=max(120, len(cases) / 500))
        alive, health = worker.alive, worker.get("/healthz")
        log = worker.log_text()
    finally:
        traffic.close()
        worker.stop()
        delete_platform_topics(kafka, [platform])
    record(f"fuzz {len(cases)} cases", report, scenario_timer(), f"worker alive={alive}, /healthz {health[0]}")
    assert alive and health[0] == 200
    assert "Crashed" not in log
    assert report.inputs == len(cases)
    assert report.lost == 0 and report.ok, report.table()
    assert report.duplicates == 0, report.table()


@pytest.mark.kafka
def test_near_limit_undecodable_message_does_not_stop_validation(kafka, tmp_path):
    platform = unique("poison")
    onboard_platforms(kafka, [platform])
    worker = Worker(kafka, tmp_path, unique("rel-poison")).start()
    traffic = Traffic(kafka, [platform], seed=SEED + 8)
    try:
        worker.wait_subscribed(3)
        traffic.send(*traffic.raw_case(platform, "sites", b"\x01" * 1_000_100, label="1 MB garbage"))
        traffic.send_sim(20)
        traffic.flush()
        wait_for(lambda: worker.received() >= 21 or "Crashed" in worker.log_text(), 90, "verdict")
        report = wait_until_accounted(kafka, traffic, "poison", 10)
    finally:
        traffic.close()
        worker.stop()
        delete_platform_topics(kafka, [platform])
    assert report.lost == 0, report.table()
