"""The cover stage's ledger (issue #20): after an order scenario settles, the WorkerDayCover and
PremiumStatement records of its platforms must match the orders the hub accepted, exactly.

Expected totals come from ``hub.validated.orders`` (what the cover stage reads): per order_ref
the first record in its partition counts (a later one with another event_id is a duplicate
premium, dropped). For every worker-day and statement key the records found must

* have versions 1..n with no gap (an amendment is never silent),
* never give two different totals for the same (key, version) (a re-sent version after a
  crash is the same record),
* and at the highest version carry the expected totals (no order lost, none counted twice).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from schemas.wire import WireFormatError, decode
from streams.core.cover.cst import service_date
from streams.core.cover.emits import Emit
from streams.core.cover.orders import province_of
from streams.core.topics import validated_topic
from tests.support.ledger import CATALOG, read_topics


@dataclass
class CoverLedger:
    day_keys: int = 0
    statement_keys: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    # every WorkerDayCover version found, as the insurer sink's idempotency key platform:worker:date:v<n>
    day_versions: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems and self.day_keys > 0

    def __str__(self) -> str:
        head = f"cover ledger: {self.day_keys} worker-days, {self.statement_keys} statements, {self.records} records"
        return "\n".join([head, *self.problems[:20]])


def _records(batch) -> Iterable[dict]:
    for r in batch:
        try:
            yield decode(CATALOG, r.value).record
        except WireFormatError:
            continue


def expected_totals(validated: list, platforms: set[str]) -> tuple[dict, dict]:
    """(day key -> (orders, premium)), (statement key -> (orders, workers, premium))."""
    counted: dict[str, dict] = {}
    for r in sorted(validated, key=lambda r: (r.partition, r.offset)):
        for order in _records([r]):
            if order.get("platform_id") in platforms:
                counted.setdefault(order["order_ref"], order)
    days: dict = defaultdict(lambda: (0, 0))
    statements: dict = defaultdict(lambda: [0, set(), 0])
    for order in counted.values():
        date = service_date(order["accepted_at"])
        key = (order["platform_id"], order["worker_ref"], date)
        n, fen = days[key]
        days[key] = (n + 1, fen + order["premium_fen"])
        s = statements[(order["platform_id"], province_of(order["division_code"]), date)]
        s[0], s[2] = s[0] + 1, s[2] + order["premium_fen"]
        s[1].add(order["worker_ref"])
    return dict(days), {k: (n, len(w), fen) for k, (n, w, fen) in statements.items()}


def _versions(found: dict, expected: dict, kind: str, ledger: CoverLedger) -> None:
    for key, want in sorted(expected.items()):
        versions = found.get(key, {})
        if not versions:
            ledger.problems.append(f"{kind} {key}: no record (expected {want})")
            continue
        for version, totals in versions.items():
            if len(totals) > 1:
                ledger.problems.append(f"{kind} {key} v{version}: different totals {sorted(totals)}")
        if sorted(versions) != list(range(1, max(versions) + 1)):
            ledger.problems.append(f"{kind} {key}: versions {sorted(versions)} do not step by one from 1")
        last = versions[max(versions)]
        if last != {want}:
            ledger.problems.append(f"{kind} {key} v{max(versions)}: {sorted(last)}, expected {want}")
    for key in sorted(set(found) - set(expected)):
        ledger.problems.append(f"{kind} {key}: records for no accepted order")


def check_cover(conn, platforms: Iterable[str], since_ms: int | None) -> CoverLedger:
    platforms = set(platforms)
    validated_name = validated_topic("orders")
    validated = read_topics(conn, [validated_name], since_ms=since_ms, since_topics=[validated_name])[validated_name]
    days, statements = expected_totals(validated, platforms)
    provinces = sorted({k[1] for k in statements})
    cover_topics = [f"gov.insurance.{p}.cover" for p in provinces]
    statement_topics = [f"gov.insurance.{p}.statements" for p in provinces]
    out = read_topics(conn, cover_topics + statement_topics, since_ms=since_ms,
                      since_topics=cover_topics + statement_topics)
    ledger = CoverLedger(len(days), len(statements))
    found_days: dict = defaultdict(lambda: defaultdict(set))
    found_statements: dict = defaultdict(lambda: defaultdict(set))
    for topic in cover_topics:
        for rec in _records(out[topic]):
            if rec["platform_id"] in platforms:
                ledger.records += 1
                key = (rec["platform_id"], rec["worker_ref"], rec["service_date"])
                found_days[key][rec["version"]].add((rec["orders"], rec["premium_fen"]))
                ledger.day_versions.add(Emit("worker_day_cover", (), ":".join(key), rec).idempotency_key)
    for topic in statement_topics:
        for rec in _records(out[topic]):
            if rec["platform_id"] in platforms:
                ledger.records += 1
                key = (rec["platform_id"], rec["province"], rec["service_date"])
                found_statements[key][rec["version"]].add((rec["orders"], rec["workers"], rec["premium_fen"]))
    _versions(found_days, days, "worker-day", ledger)
    _versions(found_statements, statements, "statement", ledger)
    return ledger


def wait_until_covered(conn, platforms: Iterable[str], since_ms: int | None, timeout: float) -> CoverLedger:
    """Re-check until the cover records match (the close timer must have run) or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = check_cover(conn, platforms, since_ms)
        if ledger.ok or time.monotonic() > deadline:
            return ledger
        time.sleep(2.0)
