"""A simulated provincial insurer: answers insured incidents with claim-status updates.

Each claim is received an hour or so after the incident is reported, goes under review the next
morning, is determined after 1 to 7 working days (so some miss the 5-working-day deadline) --
accepted, or denied with a reason code at ``denial_share`` -- and an accepted claim is paid two
days later. Updates are ``ClaimStatus`` records in the legal order; deterministic for a seed.
"""

from __future__ import annotations

import random
import uuid
from datetime import date

from streams.core.cover.cst import day_start_ms, service_date
from streams.core.cover.workdays import WorkCalendar

HOUR = 3_600_000
DENIAL_REASONS = ("NOT_DURING_ORDER", "NOT_WORK_RELATED", "DUPLICATE_CLAIM", "MISSING_EVIDENCE")


class SimulatedInsurer:
    def __init__(self, calendar: WorkCalendar, seed: int = 7, denial_share: float = 0.1,
                 claim_prefix: str = "SIM-OIP") -> None:
        self.rng = random.Random(seed)
        self.calendar = calendar
        self.denial_share = denial_share
        self.claim_prefix = claim_prefix
        self._claims = 0

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def claim_updates(self, incident: dict) -> list[dict]:
        """The whole life of the claim for one insured incident, oldest update first."""
        self._claims += 1
        base = {"platform_id": incident["platform_id"], "incident_id": incident["incident_id"],
                "claim_ref": f"{self.claim_prefix}-{incident['division_code'][:2]}-{self._claims:07d}"}
        received = incident["reported_at"] + self.rng.randint(10, 120) * 60_000
        day = date.fromisoformat(service_date(received))
        review = day_start_ms(self.calendar.add_working_days(day, 1).isoformat()) + 9 * HOUR
        decided_day = self.calendar.add_working_days(day, self.rng.choice((1, 2, 3, 4, 4, 5, 5, 6, 7)))
        determined = day_start_ms(decided_day.isoformat()) + self.rng.randint(9, 17) * HOUR
        def update(at: int, status: str, decision: str | None = None, reason: str | None = None) -> dict:
            return {**base, "event_id": self._uuid(), "occurred_at": at, "status": status, "decision": decision,
                    "reason_code": reason}

        updates = [update(received, "RECEIVED"), update(review, "UNDER_REVIEW")]
        if self.rng.random() < self.denial_share:
            updates.append(update(determined, "DETERMINED", "DENIED", self.rng.choice(DENIAL_REASONS)))
        else:
            updates += [update(determined, "DETERMINED", "ACCEPTED"), update(determined + 2 * 24 * HOUR, "PAID")]
        return updates
