"""Inputs of the cover stage for its tests: validated OrderCover and insured IncidentReport
records in wire format, keyed ``<platform>:<province>`` as the orders stage writes them, and a
reader of the stage's outputs."""

from __future__ import annotations

import hashlib

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cover.cst import day_end_ms, day_start_ms

CATALOG = default_catalog()
HOUR = 3_600_000
DAY = "2026-05-30"
NOON = day_start_ms(DAY) + 12 * HOUR
CLOSED = day_end_ms(DAY) + 2 * HOUR + 1  # the day ended plus the default grace
PLATFORM, DIVISION, PROVINCE = "swiftdash", "310101002000", "31"
KEY = f"{PLATFORM}:{PROVINCE}".encode()


def ref(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def order(n: int, worker: str, *, event: str | None = None, fen: int = 4, platform: str = PLATFORM) -> bytes:
    """Order ``n`` (its order_ref) of ``worker`` that day; ``event`` another event id for it."""
    accepted = NOON + n * 60_000
    record = {"event_id": event or f"order-ev-{n}", "platform_id": platform, "occurred_at": accepted + 600_000,
              "order_ref": ref(f"order-{n}"), "worker_ref": ref(worker), "industry": "INSTANT_DELIVERY",
              "division_code": DIVISION, "accepted_at": accepted, "finished_at": accepted + 600_000,
              "cancelled": False, "premium_fen": fen, "rate_version": "2026-01"}
    return encode(CATALOG.contract("order_cover").latest, record)


def incident(n: int, worker: str, order_n: int | None, platform: str = PLATFORM) -> bytes:
    record = {"event_id": f"incident-ev-{n}", "platform_id": platform, "occurred_at": NOON + HOUR,
              "incident_id": f"INC-{n}", "division_code": DIVISION, "category": "HEAT_ILLNESS",
              "severity": "SEVERE", "weather": "HEAT", "worker_ref": ref(worker), "insured": True,
              "order_ref": None if order_n is None else ref(f"order-{order_n}"), "reported_at": NOON + 2 * HOUR}
    return encode(CATALOG.contract("incident_report").latest, record)


def day_totals(records) -> dict[tuple[str, int], tuple[int, int]]:
    """WorkerDayCover records -> {(worker_ref, version): (orders, premium_fen)}."""
    out = {}
    for value in records:
        r = decode(CATALOG, value).record
        out[(r["worker_ref"], r["version"])] = (r["orders"], r["premium_fen"])
    return out


def decoded(values) -> list[dict]:
    return [decode(CATALOG, v).record for v in values]
