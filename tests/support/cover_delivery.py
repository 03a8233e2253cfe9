"""The insurer sink's side of the cover ledger (issue #20): every WorkerDayCover version found in
``gov.insurance.<province>.cover`` (:attr:`CoverLedger.day_versions`) must reach the insurer
endpoint under its idempotency key ``platform:worker:date:v<version>`` and have a receipt.

The guarantee is at-least-once *with the key*: the endpoint may see the same key again (a
timeout after it accepted, a crash before the offset commit) and answers it as a repeat, so its
deduplicated view (``/_received``, one entry per accepted key) must hold each expected key
exactly once, and no key of these platforms that the cover topics do not hold.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from streams.core.route import insurance_topic
from tests.support.cover_ledger import _records
from tests.support.ledger import _http_json, read_topics


@dataclass
class CoverDelivery:
    expected: int = 0
    delivered: int = 0        # expected keys accepted by the endpoint
    receipts: int = 0         # expected keys with a receipt in gov.insurance.<p>.receipts
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.expected > 0

    def __str__(self) -> str:
        head = f"cover delivery: {self.delivered}/{self.expected} WorkerDayCover versions at the endpoint, " \
               f"{self.receipts} receipts"
        return "\n".join([head, *self.problems[:20]])


def check_delivery(conn, endpoint_url: str, expected_keys: set[str], platforms: Iterable[str],
                   provinces: Iterable[str], since_ms: int | None) -> CoverDelivery:
    prefixes = tuple(f"{p}:" for p in platforms)
    accepted = Counter(c["idempotency_key"] for c in _http_json(f"{endpoint_url}/_received")
                       if c["idempotency_key"].startswith(prefixes))
    topics = [insurance_topic(p, "receipts") for p in sorted(set(provinces))]
    receipted = Counter(rec["event_id"] for batch in read_topics(conn, topics, since_ms=since_ms,
                                                                  since_topics=topics).values()
                        for rec in _records(batch) if rec["event_id"] in expected_keys)
    report = CoverDelivery(len(expected_keys), sum(1 for k in expected_keys if accepted[k]),
                           len(receipted))
    for key in sorted(expected_keys):
        if not accepted[key]:
            report.problems.append(f"{key}: never accepted by the endpoint")
        elif not receipted[key]:
            report.problems.append(f"{key}: accepted but no receipt")
    for key, n in sorted(accepted.items()):
        if n > 1:
            report.problems.append(f"{key}: {n} claims at the endpoint (its deduplicated view)")
        if key not in expected_keys:
            report.problems.append(f"{key}: accepted, but no such WorkerDayCover version")
    return report


def wait_until_delivered(conn, endpoint_url: str, expected_keys: set[str], platforms: Iterable[str],
                         provinces: Iterable[str], since_ms: int | None, timeout: float) -> CoverDelivery:
    """Re-check until every expected key is delivered with a receipt, or the deadline."""
    platforms, provinces = list(platforms), list(provinces)
    deadline = time.monotonic() + timeout
    while True:
        report = check_delivery(conn, endpoint_url, expected_keys, platforms, provinces, since_ms)
        if report.ok or time.monotonic() > deadline:
            return report
        time.sleep(2.0)
