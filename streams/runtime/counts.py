"""Running totals of the worker, for the once-a-second ``counts`` log line."""

from __future__ import annotations

from dataclasses import dataclass

from gigbridge.logs import get_logger
from streams.core.plan import BatchPlan
from streams.core.classify import Accepted, Rejected

log = get_logger("gigbridge.worker")


@dataclass
class Counts:
    """Running totals for the periodic log line (the Prometheus counters hold the same)."""

    received: int = 0
    valid: int = 0
    rejected: int = 0
    duplicates: int = 0
    dlq: int = 0
    delivered: int = 0  # HTTP deliveries to insurers / webhooks
    refused: int = 0  # permanent refusals (sink DLQ)

    def add_sink_outcomes(self, delivered: int, refused: int) -> None:
        self.delivered += delivered
        self.refused += refused

    def add(self, plan: BatchPlan) -> None:
        for d in plan.decisions:
            self.received += 1
            if d.duplicate:
                self.duplicates += 1
            elif isinstance(d.outcome, Accepted):
                self.valid += 1
            elif isinstance(d.outcome, Rejected):
                self.rejected += 1
            else:
                self.dlq += 1

    def log_line(self, topics: int) -> None:
        log.info("counts", received=self.received, valid=self.valid, rejected=self.rejected,
                 duplicates=self.duplicates, dlq=self.dlq, delivered=self.delivered, refused=self.refused,
                 topics=topics)
