"""Seeded concern-case traffic (pure: no Kafka, no clock): cases and the units' answers.

Cases cycle through every category and urgency across the four pilot counties of
``deploy/units.yaml`` (county and township level) and one unlisted county (which falls to its
county government). Each case gets a behaviour, and its CaseEvents show it:

* ``prompt``: accepted, answered and resolved well within the deadlines, good feedback;
* ``transfer``: accepted, then transferred (half of them to another region), answered on time;
* ``late``: accepted, answered and resolved after each deadline, poor feedback;
* ``silent``: no unit ever answers -- only the timers find it;
* ``misrouted``: refused as NOT_OUR_MATTER, then taken by the county government;
* ``reopened``: resolved, reopened by the source, resolved again by the lead.

Every event is legal for the pure lifecycle (the tests run them through it). The same seed and
inputs always give the same traffic.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass

from streams.core.cases.units import CATEGORIES, URGENCIES, UnitBook

MINUTE = 60_000
BEHAVIOURS = ("prompt", "transfer", "late", "silent", "misrouted", "reopened")
WEIGHTS = (40, 15, 15, 10, 10, 10)
DIVISIONS = ("110105001000", "110105003000", "110105000000", "310115005000", "310115004000", "440305001000",
             "440305003000", "330106002000", "330106004000", "510107000000")
PLATFORMS = ("swiftmeal", "rideon", "haulnet")
SUMMARIES = {
    "PAY": "Rider says the May heat allowance was not paid as agreed.",
    "ALGORITHM_PENALTY": "Courier fined for late deliveries caused by a blocked road the app did not know.",
    "REST_AND_HOURS": "Driver logged out automatically after 10 hours but the station requires 12.",
    "INJURY_CLAIM": "Rider hurt in a fall during an order asks who pays the hospital deposit.",
    "FACILITY": "No place to rest, drink water or charge batteries near the business district.",
    "PARKING_AND_ACCESS": "Couriers are refused entry to a residential compound and walk the last 800 m.",
    "HOUSING": "Riders ask about the rental subsidy for new-form workers.",
    "SOCIAL_INSURANCE": "Driver cannot register for pension insurance without a local employer.",
    "SAFETY": "Electric-bike batteries are charged in a stairwell at the station.",
    "OTHER": "Riders ask for a contact point for disputes with merchants.",
}


@dataclass(frozen=True, slots=True)
class SimCase:
    record: dict  # a ConcernCase
    behaviour: str
    events: tuple[dict, ...]  # CaseEvents, in time order


class CaseSimulator:
    """``cases(n)``: n cases starting at ``start_ms``, one every ``spacing_ms``."""

    def __init__(self, units: UnitBook, *, seed: int = 16, start_ms: int, spacing_ms: int = 17 * MINUTE) -> None:
        self.units, self.start_ms, self.spacing_ms = units, start_ms, spacing_ms
        self._rng = random.Random(seed)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def cases(self, n: int) -> list[SimCase]:
        return [self._case(i) for i in range(n)]

    def _case(self, i: int) -> SimCase:
        rng = self._rng
        category, urgency = CATEGORIES[i % len(CATEGORIES)], URGENCIES[(i // len(CATEGORIES)) % len(URGENCIES)]
        division = DIVISIONS[rng.randrange(len(DIVISIONS))]
        union = rng.random() < 0.2 and division[:6] != "510107"
        platform = PLATFORMS[rng.randrange(len(PLATFORMS))]
        source = ("UNION", f"{division[:6]}-union") if union else ("PLATFORM", platform)
        worker = hashlib.sha256(f"sim-worker-{rng.randrange(10**6)}".encode()).hexdigest()
        record = {"case_id": self._uuid(), "source_kind": source[0], "source_id": source[1], "platform_id": platform,
                  "division_code": division, "category": category, "urgency": urgency, "worker_ref": worker,
                  "incident_id": None, "order_ref": None, "summary": SUMMARIES[category],
                  "submitted_at": self.start_ms + i * self.spacing_ms}
        behaviour = rng.choices(BEHAVIOURS, WEIGHTS)[0]
        return SimCase(record, behaviour, tuple(self._events(record, behaviour, source)))

    def _events(self, case: dict, behaviour: str, source: tuple[str, str]) -> list[dict]:
        rng, tier, t0 = self._rng, self.units.deadlines[case["urgency"]], case["submitted_at"]
        unit = self.units.route(case["category"], case["division_code"]).id
        events: list[dict] = []

        def add(action, actor, at, **kw):
            events.append({"event_id": self._uuid(), "case_id": case["case_id"], "action": action, "actor_kind": actor[0],
                           "actor_id": actor[1], "target_unit": None, "reason_code": None, "satisfaction": None,
                           "note": None, "at": at, **kw})

        def handle(by: str, start: int, late: bool = False, score: int | None = None) -> None:
            """Accept, answer and resolve: at 5-40 % of each deadline window, or 110-150 % when late."""
            def share() -> float:
                return rng.uniform(1.1, 1.5) if late else rng.uniform(0.05, 0.4)
            at = start
            for action, window in (("ACCEPTED", tier.accept_ms), ("RESPONDED", tier.respond_ms),
                                   ("RESOLVED", tier.resolve_ms)):
                at = max(at + MINUTE, t0 + int(window * share()))
                add(action, ("UNIT", by), at)
            if score is not None:
                add("FEEDBACK", source, at + rng.randrange(MINUTE, 60 * MINUTE), satisfaction=score)

        county_gov = self.units.county_government(case["division_code"]).id
        if behaviour == "late":
            handle(unit, t0, late=True, score=rng.randint(1, 3))
        elif behaviour == "misrouted" and unit != county_gov:
            add("REJECTED", ("UNIT", unit), t0 + rng.randrange(MINUTE, tier.accept_ms // 2), reason_code="NOT_OUR_MATTER")
            handle(county_gov, events[-1]["at"], score=rng.randint(3, 5))
        elif behaviour == "transfer":
            add("ACCEPTED", ("UNIT", unit), t0 + rng.randrange(MINUTE, tier.accept_ms // 4))
            other = self._transfer_target(unit, county_gov)
            add("TRANSFERRED", ("UNIT", unit), events[-1]["at"] + MINUTE, target_unit=other)
            handle(other, events[-1]["at"], score=rng.randint(3, 5))
        elif behaviour != "silent":  # prompt, reopened, and misrouted cases already at the county government
            handle(unit, t0, score=rng.randint(4, 5))
            if behaviour == "reopened":
                reopened_at = events[-1]["at"] + rng.randrange(MINUTE, 24 * 60 * MINUTE)
                add("REOPENED", source, reopened_at)
                add("ACCEPTED", ("UNIT", unit), reopened_at + tier.accept_ms // 3)
                add("RESOLVED", ("UNIT", unit), reopened_at + tier.respond_ms // 2)
                add("FEEDBACK", source, events[-1]["at"] + MINUTE, satisfaction=rng.randint(2, 5))
        return events

    def _transfer_target(self, unit: str, county_gov: str) -> str:
        """Half the transfers go to another region's HRSS bureau, the rest to the county government
        (or, from it, to market regulation); an unlisted county always hands across regions."""
        listed = county_gov in self.units.units
        if not listed or self._rng.random() < 0.5:
            return "310115-hrss" if not unit.startswith("310115") else "110105-hrss"
        return county_gov if unit != county_gov else f"{unit[:6]}-amr"
