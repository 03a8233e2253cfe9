"""Retention and cleanup of every topic family, declared once.

Every creator of a topic reads this table: :class:`gigbridge.topics_admin.TopicAdmin` (so
``gigbridge topics ensure``, the simulator and the worker's topics created on first use), the
worker's dedupe logs (:func:`streams.runtime.dedupe.log.log_topic_configs`) and the Strimzi
``KafkaTopic`` resources generated for ``deploy/k8s`` (``python -m deploy.k8s.generate``).
``tests/gigbridge/test_topic_policy.py`` checks that they agree.

A topic that matches no family gets the broker's defaults. The table only decides a topic's
configuration when it is created: changing a retention here does not alter existing topics
(``kafka-configs --alter`` or the ``KafkaTopic`` does that, see docs/operations.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAY_MS = 24 * 3600 * 1000

#: How long the audit stream and the insurers' receipts are kept: a calendar year plus a
#: quarter to close the year's audit.
AUDIT_PERIOD_MS = 455 * DAY_MS
#: Office topics: an office that is offline for a holiday week (the Spring Festival and
#: National Day weeks are 7-8 days, with the weekends around them up to 10) still reads
#: everything when it is back, with a week to spare.
OFFICE_RETENTION_MS = 17 * DAY_MS

_TYPES = "(sites|headcounts|incidents)"
_PLATFORM = r"[a-z][a-z0-9-]{1,31}"
_UNIT = r"[a-z0-9][a-z0-9-]{2,47}"
#: Platform-written topics besides the ingest types: cover orders, concern cases, measures, rule changes.
_PLATFORM_IN = "(orders|cases|case-events|measures|algorithm-changes)"


@dataclass(frozen=True)
class TopicFamily:
    """Topics whose full name matches ``pattern`` share their cleanup policy and retention.

    ``retention_ms`` ``None`` means "derived": ``dedupe_windows`` times the dedupe window
    (``GIGBRIDGE_DEDUPE_WINDOW_S``); a compacted family keeps every key's last record forever."""
    name: str
    pattern: str
    cleanup_policy: str  # "delete" | "compact"
    retention_ms: int | None
    why: str
    dedupe_windows: int = 0

    def matches(self, topic: str) -> bool:
        return re.fullmatch(self.pattern, topic) is not None

    def configs(self, dedupe_window_ms: int) -> dict[str, str]:
        """The topic configs to create a topic of this family with."""
        if self.cleanup_policy == "compact":
            return {"cleanup.policy": "compact"}
        retention = self.retention_ms if self.retention_ms is not None else self.dedupe_windows * dedupe_window_ms
        return {"cleanup.policy": "delete", "retention.ms": str(retention)}


FAMILIES: tuple[TopicFamily, ...] = (
    TopicFamily("ingest", rf"platform\.{_PLATFORM}\.{_TYPES}", "delete", 7 * DAY_MS,
                "read by the hub within seconds; a week leaves room to replay after an incident"),
    TopicFamily("platform-inbound", rf"platform\.{_PLATFORM}\.{_PLATFORM_IN}", "delete", 7 * DAY_MS,
                "like ingest: read by the hub within seconds; a week leaves room to replay"),
    TopicFamily("rejected", rf"platform\.{_PLATFORM}\.rejected", "delete", 30 * DAY_MS,
                "the platform's own feedback; a month to fix and resend"),
    TopicFamily("platform-case-feedback", rf"platform\.{_PLATFORM}\.(case-updates|case-rejections|incident-acks)",
                "delete", 30 * DAY_MS, "like rejected: a month, the longest case deadline (COMPLEX, 30 d)"),
    TopicFamily("platform-cover", rf"platform\.{_PLATFORM}\.(statements|claims|cover-gaps|cover-links)", "delete",
                AUDIT_PERIOD_MS, "the platform's copy of its cover statements and claims, kept for the audit"),
    TopicFamily("office", rf"gov\.office\.\d+\.(sites|headcounts|incidents|cases)", "delete", OFFICE_RETENTION_MS,
                "an office offline for a holiday week still finds everything"),
    TopicFamily("unit", rf"gov\.units\.{_UNIT}\.(case-events|incident-acks|case-updates|case-rejections)", "delete",
                OFFICE_RETENTION_MS, "like an office: a handling unit may be offline for a holiday week"),
    TopicFamily("unit-http", r"hub\.units\.gateway", "delete", OFFICE_RETENTION_MS,
                "the units' case steps and acknowledgements accepted over HTTP, kept like their own topics"),
    TopicFamily("insurer-incidents", r"gov\.insurance\.\d{2}\.incidents", "delete", OFFICE_RETENTION_MS,
                "like an office: an insurer's consumers may be offline for a holiday week"),
    TopicFamily("insurance-audit", r"gov\.insurance\.\d{2}\.(cover|statements|cover-gaps|cover-links|claim-status)",
                "delete", AUDIT_PERIOD_MS, "cover, statements and claim decisions are what the audit checks"),
    TopicFamily("insurer-http-claims", r"hub\.claim-status\.gateway", "delete", AUDIT_PERIOD_MS,
                "the insurers' claim updates accepted over HTTP: claim decisions, kept like their Kafka topic"),
    TopicFamily("insurer-feedback", r"gov\.insurance\.\d{2}\.claim-rejections", "delete", 30 * DAY_MS,
                "like rejected: the insurer's refused claim updates, a month to fix and resend"),
    TopicFamily("receipts", r"gov\.(insurance\.\d{2}|office\.\d+|notices\.webhooks)\.(receipts|dlq)", "delete",
                AUDIT_PERIOD_MS, "proof of each delivery to an insurer, office or platform webhook (or its "
                "refusal) for the audit period"),
    TopicFamily("notices", r"gov\.notices\.(\d{2}(\.status)?|webhooks\.[a-z][a-z0-9-]{1,31})", "delete",
                AUDIT_PERIOD_MS,
                "which platform was warned when, and how it answered, for the audit period"),
    TopicFamily("algorithm-changes", r"gov\.regulator\.algorithm-changes|public\.algorithm-register", "delete",
                AUDIT_PERIOD_MS, "announced algorithm-rule changes, for the audit period"),
    TopicFamily("audit", r"hub\.validated\.(sites|headcounts|incidents|orders|claim-status|cases|case-events|incident-acks)",
                "delete", AUDIT_PERIOD_MS, "every accepted event: the audit stream"),
    TopicFamily("cover-input", r"hub\.cover\.incidents", "delete", 7 * DAY_MS,
                "insured incidents for the cover stage, read within seconds; a week to replay, like ingest"),
    TopicFamily("case-state", r"hub\.cases\.state", "compact", None,
                "each case's current state, keyed by case: the last record per key is the state"),
    TopicFamily("dlq", r"hub\.dlq", "delete", 90 * DAY_MS,
                "undecodable input, kept long enough to redrive after a fix"),
    TopicFamily("dedupe-log", r"[A-Za-z0-9][A-Za-z0-9._-]*-dedupe\.platform\..+", "delete", None,
                "ids accepted in the dedupe window; twice the window so a replay always covers it",
                dedupe_windows=2),
    TopicFamily("state", r"[A-Za-z0-9][A-Za-z0-9._-]*-(__assignor-__leader|.+-changelog)", "compact", None,
                "Faust state (changelogs, leader election): the last value per key is the state"),
)


def family_of(topic: str) -> TopicFamily | None:
    """The first family whose pattern matches all of ``topic``, or ``None``."""
    return next((f for f in FAMILIES if f.matches(topic)), None)


def topic_configs(topic: str, dedupe_window_ms: int) -> dict[str, str]:
    """Configs to create ``topic`` with (empty: the broker's defaults)."""
    family = family_of(topic)
    return family.configs(dedupe_window_ms) if family is not None else {}


def family(name: str) -> TopicFamily:
    return next(f for f in FAMILIES if f.name == name)
