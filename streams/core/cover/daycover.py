"""Cover by the day (按日参保) and premium statements: a state machine over plain data.

Per (platform, province, worker_ref, service date in China Standard Time) the hub counts the
distinct orders, their premium and the first and last acceptance time; per (platform, province,
date) it counts orders, distinct workers and premium. Guarantees:

* **exact and idempotent**: an order is counted once, by its ``order_ref``. The same record
  again (same ``event_id``: a replay after a crash or a partition move) changes nothing and
  emits nothing; another record with a known ``order_ref`` is a duplicate premium: dropped and
  reported as :class:`DuplicateOrder` so the caller can count it;
* **closing**: :func:`close_due` emits version 1 of a ``WorkerDayCover`` / ``PremiumStatement``
  once the day has ended (24:00 CST) plus the grace (default 2 h);
* **never a silent change**: an order for a day already emitted emits the new totals at once
  as version + 1; totals never decrease and versions go up by exactly one per key;
* **order-independent**: any order and any repetition of the same inputs gives the same totals
  (tests/streams/core/test_cover_daycover.py checks it with Hypothesis).

The functions update ``state`` (owned by the caller; see :mod:`.state`) and return it with the
records to send. They read no clock: ``now_ms`` only stamps ``emitted_at`` and decides what
has closed.
"""

from __future__ import annotations

from dataclasses import replace

from streams.core.cover import gaps
from streams.core.cover.cst import day_end_ms, service_date
from streams.core.cover.emits import DEFAULT_GRACE_MS, DuplicateOrder, Emit
from streams.core.cover.orders import province_of
from streams.core.cover.state import CoverState, DayCover, DayKey, OrderSeen, Statement, StatementKey


def day_key(order: dict) -> DayKey:
    return DayKey(order["platform_id"], province_of(order["division_code"]), order["worker_ref"],
                  service_date(order["accepted_at"]))


def apply_order(state: CoverState, order: dict, now_ms: int) -> tuple[CoverState, list]:
    """Count one validated OrderCover; see the module docstring for what is emitted."""
    seen = state.orders.get(order["order_ref"])
    if seen is not None:
        if seen.event_id == order["event_id"]:
            return state, []
        return state, [DuplicateOrder(order["platform_id"], province_of(order["division_code"]), order["order_ref"])]
    key = day_key(order)
    state.orders[order["order_ref"]] = OrderSeen(key, order["event_id"])
    emits: list = []

    day = state.days.get(key)
    new_worker = day is None  # the statement key is the day key minus worker_ref
    at, fen = order["accepted_at"], order["premium_fen"]
    if new_worker:
        day = DayCover(1, fen, at, at)
        state.open_days.add(key)
    else:
        # constructors, not dataclasses.replace: this runs once per order
        version = day.emitted_version + 1 if day.emitted_version else 0
        day = DayCover(day.orders + 1, day.premium_fen + fen, min(day.first_order_at, at),
                       max(day.last_order_at, at), version)
        if version:
            emits.append(_day_record(key, day, now_ms))
    state.days[key] = day

    skey = StatementKey(key.platform_id, key.province, key.service_date)
    statement = state.statements.get(skey)
    if statement is None:
        statement = Statement(1, fen, 1)
        state.open_statements.add(skey)
    else:
        version = statement.emitted_version + 1 if statement.emitted_version else 0
        statement = Statement(statement.orders + 1, statement.premium_fen + fen, statement.workers + new_worker, version)
        if version:
            emits.append(_statement_record(skey, statement, now_ms))
    state.statements[skey] = statement
    return state, emits


def close_due(state: CoverState, now_ms: int, grace_ms: int = DEFAULT_GRACE_MS) -> tuple[CoverState, list]:
    """Emit version 1 of every day and statement whose day ended at least ``grace_ms`` ago, then
    re-check pending incidents (:func:`gaps.recheck_pending`)."""
    emits: list = []
    for key in sorted(k for k in state.open_days if day_end_ms(k.service_date) + grace_ms <= now_ms):
        day = replace(state.days[key], emitted_version=1)
        state.days[key] = day
        state.open_days.discard(key)
        emits.append(_day_record(key, day, now_ms))
    for skey in sorted(k for k in state.open_statements if day_end_ms(k.service_date) + grace_ms <= now_ms):
        statement = replace(state.statements[skey], emitted_version=1)
        state.statements[skey] = statement
        state.open_statements.discard(skey)
        emits.append(_statement_record(skey, statement, now_ms))
    state, gap_emits = gaps.recheck_pending(state, now_ms)
    return state, emits + gap_emits


def prune(state: CoverState, now_ms: int, keep_ms: int) -> CoverState:
    """Forget emitted days (and the order_refs counted in them) that ended more than ``keep_ms``
    ago, and the replay memory of incidents as old. Keep them longer than validation accepts old
    events (90 days), or a very late order would start its day at version 1 again. Scans every
    order_ref: run it rarely (the stage runs it daily)."""
    def expired(key, entry) -> bool:
        return bool(entry.emitted_version) and day_end_ms(key.service_date) + keep_ms < now_ms

    gone = {k for k, d in state.days.items() if expired(k, d)}
    for ref in [ref for ref, seen in state.orders.items() if seen.day in gone]:
        del state.orders[ref]
    for key in gone:
        del state.days[key]
    for skey in [k for k, s in state.statements.items() if expired(k, s)]:
        del state.statements[skey]
    oldest_kept = service_date(now_ms - keep_ms)
    return gaps.forget_decided(state, oldest_kept)


def _day_record(key: DayKey, day: DayCover, now_ms: int) -> Emit:
    record = {
        "platform_id": key.platform_id, "province": key.province, "worker_ref": key.worker_ref,
        "service_date": key.service_date, "version": day.emitted_version, "orders": day.orders,
        "premium_fen": day.premium_fen, "first_order_at": day.first_order_at, "last_order_at": day.last_order_at,
        "emitted_at": now_ms,
    }
    return Emit("worker_day_cover", (f"gov.insurance.{key.province}.cover",),
                f"{key.platform_id}:{key.worker_ref}:{key.service_date}", record)


def _statement_record(key: StatementKey, statement: Statement, now_ms: int) -> Emit:
    record = {
        "platform_id": key.platform_id, "province": key.province, "service_date": key.service_date,
        "version": statement.emitted_version, "orders": statement.orders, "workers": statement.workers,
        "premium_fen": statement.premium_fen, "emitted_at": now_ms,
    }
    return Emit("premium_statement",
                (f"gov.insurance.{key.province}.statements", f"platform.{key.platform_id}.statements"),
                f"{key.platform_id}:{key.province}:{key.service_date}", record)
