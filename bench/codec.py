"""In-process micro-benchmarks of the per-event work (no Kafka, no Faust): ``classify`` (decode +
validate), ``plan_batch`` (classification, routing, privacy and encoding of every output) and a
stage-by-stage breakdown of the same work."""

from __future__ import annotations

import gc
import secrets
import time
from collections import Counter
from typing import Callable

from bench.common import now_ms, say
from bench.dataset import BenchEvent


def bench_context():
    """The worker's context (``streams.context.build_context``) from default settings with a
    random privacy secret."""
    from gigbridge.settings import Settings
    from streams.context import build_context

    return build_context(Settings(_env_file=None, privacy_master_secret=secrets.token_hex(32)))


def _time(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs of ``fn`` (GC left on: the worker runs with it too)."""
    gc.collect()  # the previous stage's garbage is not this one's cost
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def run(events: list[BenchEvent], batch_size: int = 500, repeat: int = 3) -> dict:
    """Rates in events/s and per-stage costs in µs per input event (over all of ``events``), each
    the best of ``repeat`` runs (the machine is shared with the broker and other work), under the
    worker's garbage-collector settings (``streams.runtime.worker.tune_gc``; Python's default threshold
    would scan the results kept here for the breakdown, which the worker never keeps)."""
    from gigbridge.settings import Settings
    from streams.runtime.worker import tune_gc

    threshold = gc.get_threshold()
    tune_gc(Settings.model_fields["gc_gen0_threshold"].default)
    try:
        return _run(events, batch_size, repeat)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _run(events: list[BenchEvent], batch_size: int, repeat: int) -> dict:
    from schemas.shape import find_problem
    from schemas.splice import splice
    from streams.core.policy import POLICY_LEAVES
    from schemas.wire import WireFormatError, decode, encode
    from streams.runtime import metrics
    from streams.core.plan import InMessage, plan_batch
    from streams.core.pii import find_identifier
    from streams.core.classify import Accepted, DeadLettered, classify
    from streams.core.route import routes_for
    from streams.core.topics import parse_ingest_topic
    from streams.core.validate import CONTRACT_BY_EVENT_TYPE, check_rules

    ctx = bench_context()
    now = now_ms()
    n = len(events)
    topics = {e.topic: parse_ingest_topic(e.topic) for e in events}
    items = [(e.value, topics[e.topic]) for e in events]
    messages = [InMessage(e.topic, 0, i, e.key, e.value) for i, e in enumerate(events)]
    batches = [messages[i:i + batch_size] for i in range(0, n, batch_size)]
    say(f"codec: classify / plan_batch over {n:,} events")

    outcomes: list = []

    def do_classify():
        outcomes.clear()
        outcomes.extend(classify(v, t, ctx, now) for v, t in items)

    t_classify = _time(do_classify, repeat)

    plans: list = []

    def do_plan():
        plans.clear()
        seen: set[str] = set()
        for batch in batches:
            plan = plan_batch(batch, ctx, lambda m, eid: eid in seen, now)
            seen.update(plan.accepted_ids)
            plans.append(plan)

    t_plan = _time(do_plan, repeat)

    kinds = Counter()
    delivery_topics: set[str] = set()
    deliveries = Counter()
    for plan in plans:
        for d in plan.decisions:
            kinds["valid" if isinstance(d.outcome, Accepted) and not d.duplicate
                  else "duplicate" if d.duplicate
                  else "dlq" if isinstance(d.outcome, DeadLettered) else "rejected"] += 1
            for out in d.deliveries:
                delivery_topics.add(out.topic)
                deliveries[out.kind] += 1

    # --- stage breakdown (each stage timed alone over the same events) --------------------
    say("codec: stage breakdown")
    catalog = ctx.catalog
    contracts = [CONTRACT_BY_EVENT_TYPE[t.event_type] for _, t in items]
    decoded: list = []

    def do_decode():
        decoded.clear()
        for (value, topic), contract in zip(items, contracts):
            try:
                decoded.append((topic, decode(catalog, value, expect_contract=contract)))
            except WireFormatError:
                pass

    t_decode = _time(do_decode, repeat)
    t_rules = _time(lambda: [check_rules(t.event_type, d.record, now_ms=now, division_exists=ctx.division_exists,
                                         topic_platform=t.platform_id, rules=ctx.rules) for t, d in decoded], repeat)
    t_pii = _time(lambda: [find_identifier(d.record) for _, d in decoded], repeat)
    accepted = [o for o in outcomes if isinstance(o, Accepted)]
    t_route = _time(lambda: [routes_for(a.event_type, a.record, ctx.routing, ctx.level_of) for a in accepted], repeat)
    routed = [(a, r) for a in accepted for r in routes_for(a.event_type, a.record, ctx.routing, ctx.level_of)]
    t_protect = _time(lambda: [ctx.protect(r, a.record) for a, r in routed], repeat)
    copies = [(a.version, ctx.protect(r, a.record)) for a, r in routed]
    changed = [(a, c) for (a, _), (_, c) in zip(routed, copies) if c != a.record]
    t_splice = _time(lambda: [splice(a.raw or encode(a.version, a.record), a.version, a.record, c, POLICY_LEAVES)
                              or encode(a.version, c, validate=False) for a, c in changed], repeat)
    t_enc_validated = _time(lambda: [encode(a.version, a.record, validate=False) for a in accepted], repeat)
    t_enc_copies = _time(lambda: [encode(v, c) for v, c in copies], repeat)
    t_enc_copies_nocheck = _time(lambda: [encode(v, c, validate=False) for v, c in copies], repeat)
    t_shape = _time(lambda: [find_problem(v.checker, c) for v, c in copies], repeat)
    t_metrics = _time(lambda: [metrics.record_batch(p, now) for p in plans], repeat)

    def us(seconds: float) -> float:
        return round(seconds / n * 1e6, 2)

    return {
        "events": n,
        "batch_size": batch_size,
        "outcomes": dict(kinds),
        "deliveries": dict(deliveries),
        "deliveries_per_event": round(sum(deliveries.values()) / n, 3),
        "classify_events_per_s": round(n / t_classify),
        "plan_batch_events_per_s": round(n / t_plan),
        "classify_us_per_event": us(t_classify),
        "plan_batch_us_per_event": us(t_plan),
        "stages_us_per_event": {
            "decode (wire.decode: header + fastavro schemaless_reader)": us(t_decode),
            "business rules incl. identifier scan (validate.check_rules)": us(t_rules),
            "  of which identifier scan (pii.find_identifier)": us(t_pii),
            "routing (route.routes_for)": us(t_route),
            "privacy policy per routed copy (Protector)": us(t_protect),
            "re-encode the hub.validated copy (validate=False; skipped by the hub for input of the latest "
            "version, i.e. all of this input)": us(t_enc_validated),
            "encode every routed copy (validate=False; the pipeline's way before schemas.splice)":
                us(t_enc_copies_nocheck),
            "  same with the shape check (validate=True)": us(t_enc_copies),
            "what the pipeline does instead: splice the copies the policy changed into the original bytes "
            "(schemas.splice; encode where it declines), the others are the original bytes": us(t_splice),
            "  shape check alone (shape.find_problem)": us(t_shape),
            "Prometheus + domain metrics (metrics.record_batch)": us(t_metrics),
        },
        "delivery_topics": sorted(delivery_topics),
    }
