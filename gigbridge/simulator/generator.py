"""Seeded, realistic traffic of simulated gig platforms (pure: no Kafka, no clock).

Each platform owns sites in real NBS 2023 townships, weighted towards the provinces where
most delivery and ride-hailing work happens; sites open (and now and then change or close),
report headcounts per hour and file occupational-injury incidents whose category follows the
weather. A configurable share of events is deliberately broken, one rule at a time, and each
broken event carries the reason code the hub must answer with, so tests and ``make run``
can check the hub's verdicts.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass

from gigbridge.divisions import DivisionTable, Level

# Rough weights by province code (urban gig work concentrates in the east and south).
PROVINCE_WEIGHTS = {
    "44": 14, "32": 10, "33": 10, "31": 8, "11": 8, "37": 7, "51": 6, "42": 5, "41": 5,
    "35": 5, "12": 3, "50": 4, "43": 4, "34": 4, "61": 3, "13": 3, "21": 3, "36": 2, "45": 2,
    "53": 2, "52": 1, "14": 1, "22": 1, "23": 1, "15": 1, "62": 1, "46": 1, "65": 1, "64": 0.5,
    "63": 0.3, "54": 0.2,
}
PLATFORM_NAMES = ("swiftmeal", "cityrun", "rideon", "parcelgo", "haulnet", "dashbee", "zipcart", "ferry-x")
SITE_TYPES = ("DELIVERY_STATION", "COURIER_OUTLET", "RIDE_HAILING_HUB", "FREIGHT_HUB", "WAREHOUSE",
              "SERVICE_CENTER", "OTHER")
FACILITIES = ("REST_AREA", "DRINKING_WATER", "RESTROOM", "CHARGING", "HEATING", "COOLING", "FIRST_AID", "MEAL")
WEATHER = (("CLEAR", 50), ("RAIN", 20), ("HEAT", 8), ("COLD", 6), ("SNOW", 3), ("STORM", 4),
           ("FOG", 4), ("TYPHOON", 1), ("OTHER", 4))
CATEGORY_BY_WEATHER = {
    "HEAT": ("HEAT_ILLNESS", "TRAFFIC_ACCIDENT", "FALL"),
    "COLD": ("COLD_INJURY", "FALL", "TRAFFIC_ACCIDENT"),
    "SNOW": ("FALL", "TRAFFIC_ACCIDENT", "COLD_INJURY"),
    "RAIN": ("TRAFFIC_ACCIDENT", "FALL"),
}
DEFAULT_CATEGORIES = ("TRAFFIC_ACCIDENT", "TRAFFIC_ACCIDENT", "FALL", "ASSAULT", "ANIMAL_BITE", "OTHER_INJURY")
SEVERITY = (("MINOR", 70), ("MODERATE", 22), ("SEVERE", 7), ("FATAL", 1))
HOUR_MS = 3_600_000

# Broken-event kinds, each with the reason the hub must give (None = goes to the DLQ).
INVALID_KINDS = (
    ("unknown_division_code", "unknown_division_code"),
    ("bad_event_id", "invalid_event_id"),
    ("status_sum", "status_sum_mismatch"),
    ("future", "timestamp_in_future"),
    ("bad_worker_ref", "invalid_pseudonym"),
    ("spoofed_platform", "platform_mismatch"),
    ("garbage_bytes", None),
)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One simulated event: either a record to encode, or raw bytes for the garbage kind."""

    event_type: str
    platform_id: str
    key: str
    record: dict | None
    raw: bytes | None = None
    expected_reason: str | None = None  # None = valid (or DLQ when raw is set)


@dataclass
class _Site:
    site_id: str
    division_code: str
    site_type: str
    lat: float
    lon: float
    workers: int


class Simulator:
    """Deterministic for a given seed and sequence of ``now_ms`` values."""

    def __init__(self, divisions: DivisionTable, seed: int = 42, platforms: int = 3,
                 sites_per_platform: int = 40, invalid_share: float = 0.05) -> None:
        self.rng = random.Random(seed)
        self.invalid_share = invalid_share
        self.platforms = list(PLATFORM_NAMES[:platforms]) + [f"platform-{i}" for i in range(len(PLATFORM_NAMES), platforms)]
        townships = self._weighted_townships(divisions)
        self.sites: dict[str, list[_Site]] = {}
        for p in self.platforms:
            self.sites[p] = [self._new_site(p, i, townships) for i in range(sites_per_platform)]
        self._opened: set[str] = set()

    def _weighted_townships(self, divisions: DivisionTable) -> list[str]:
        by_province: dict[str, list[str]] = {}
        for code in divisions.codes(Level.TOWNSHIP):
            by_province.setdefault(code[:2], []).append(code)
        provinces = sorted(by_province)
        weights = [PROVINCE_WEIGHTS.get(p, 0.5) for p in provinces]
        chosen = self.rng.choices(provinces, weights, k=400)
        return [self.rng.choice(sorted(by_province[p])) for p in chosen]

    def _new_site(self, platform: str, i: int, townships: list[str]) -> _Site:
        code = self.rng.choice(townships)
        return _Site(f"{platform[:4]}-{i:05d}", code, self.rng.choice(SITE_TYPES),
                     round(self.rng.uniform(20, 45), 6), round(self.rng.uniform(100, 122), 6),
                     self.rng.randint(5, 400))

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _ref(self, label: str) -> str:
        return hashlib.sha256(f"{label}:{self.rng.getrandbits(64)}".encode()).hexdigest()

    # --- event builders ------------------------------------------------------------------

    def _site_event(self, platform: str, site: _Site, now_ms: int) -> SimEvent:
        action = "OPENED" if site.site_id not in self._opened else self.rng.choice(("UPDATED",) * 9 + ("CLOSED",))
        self._opened.add(site.site_id)
        record = {
            "event_id": self._uuid(), "platform_id": platform, "occurred_at": now_ms,
            "site_id": site.site_id, "action": action, "site_type": site.site_type,
            "division_code": site.division_code, "location": {"lat": site.lat, "lon": site.lon},
            "facilities": sorted(self.rng.sample(FACILITIES, self.rng.randint(0, 5))),
            "capacity_workers": site.workers + self.rng.randint(0, 50),
        }
        return SimEvent("sites", platform, site.site_id, record)

    def _headcount(self, platform: str, site: _Site, now_ms: int) -> SimEvent:
        active = max(0, int(site.workers * self.rng.uniform(0.5, 1.1)))
        employed = int(active * self.rng.uniform(0.05, 0.3))
        non_standard = int((active - employed) * self.rng.uniform(0.3, 0.8))
        end = now_ms - now_ms % HOUR_MS
        record = {
            "event_id": self._uuid(), "platform_id": platform, "occurred_at": now_ms,
            "site_id": site.site_id, "division_code": site.division_code,
            "period_start": end - HOUR_MS, "period_end": end, "active_workers": active,
            "new_workers": self.rng.randint(0, max(1, active // 20)),
            "departed_workers": self.rng.randint(0, max(1, active // 25)),
            "employed_workers": employed, "non_standard_workers": non_standard,
            "independent_workers": active - employed - non_standard,
            "insured_workers": int(active * self.rng.uniform(0.6, 1.0)),
            "long_hours_workers": int(active * self.rng.uniform(0, 0.15)) if self.rng.random() < 0.8 else None,
        }
        return SimEvent("headcounts", platform, site.site_id, record)

    def _incident(self, platform: str, site: _Site, now_ms: int) -> SimEvent:
        weather = self.rng.choices([w for w, _ in WEATHER], [n for _, n in WEATHER])[0]
        category = self.rng.choice(CATEGORY_BY_WEATHER.get(weather, DEFAULT_CATEGORIES))
        occurred = now_ms - self.rng.randint(0, 6 * HOUR_MS)
        record = {
            "event_id": self._uuid(), "platform_id": platform, "occurred_at": occurred,
            "incident_id": f"inc-{self.rng.getrandbits(48):012x}",
            "site_id": site.site_id if self.rng.random() < 0.7 else None,
            "division_code": site.division_code, "category": category,
            "severity": self.rng.choices([s for s, _ in SEVERITY], [n for _, n in SEVERITY])[0],
            "weather": weather, "worker_ref": self._ref("worker"),
            "order_ref": self._ref("order") if self.rng.random() < 0.6 else None,
            "insured": self.rng.random() < 0.85,
            "location": {"lat": round(site.lat + self.rng.uniform(-0.05, 0.05), 6),
                         "lon": round(site.lon + self.rng.uniform(-0.05, 0.05), 6)},
            "reported_at": min(now_ms, occurred + self.rng.randint(60_000, 2 * HOUR_MS)),
            "description": None,
        }
        return SimEvent("incidents", platform, site.site_id, record)

    def _break(self, event: SimEvent, kind: str, reason: str | None, now_ms: int) -> SimEvent:
        record = dict(event.record)
        if kind == "garbage_bytes":
            return SimEvent(event.event_type, event.platform_id, event.key, None,
                            raw=bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(0, 40))))
        if kind == "unknown_division_code":
            record["division_code"] = "990000000000"
        elif kind == "bad_event_id":
            record["event_id"] = "not-a-uuid"
        elif kind == "future":
            record["occurred_at"] = now_ms + 3 * HOUR_MS  # incidents may have happened hours ago
        elif kind == "spoofed_platform":
            record["platform_id"] = "someone-else"
        elif kind == "status_sum" and event.event_type == "headcounts":
            record["employed_workers"] += 1
        elif kind == "bad_worker_ref" and event.event_type == "incidents":
            record["worker_ref"] = record["worker_ref"].upper()
        else:  # the rule does not apply to this type: use one that does
            record["event_id"] = "not-a-uuid"
            reason = "invalid_event_id"
        return SimEvent(event.event_type, event.platform_id, event.key, record, expected_reason=reason)

    def next_event(self, now_ms: int) -> SimEvent:
        platform = self.rng.choice(self.platforms)
        site = self.rng.choice(self.sites[platform])
        if site.site_id not in self._opened:
            event = self._site_event(platform, site, now_ms)
        else:
            roll = self.rng.random()
            if roll < 0.08:
                event = self._site_event(platform, site, now_ms)
            elif roll < 0.85:
                event = self._headcount(platform, site, now_ms)
            else:
                event = self._incident(platform, site, now_ms)
        if self.rng.random() < self.invalid_share:
            kind, reason = self.rng.choice(INVALID_KINDS)
            event = self._break(event, kind, reason, now_ms)
        return event
