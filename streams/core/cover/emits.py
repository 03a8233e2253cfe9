"""What the cover state machines hand back besides the new state (plain values)."""

from __future__ import annotations

from dataclasses import dataclass

#: A day closes at 24:00 CST plus this grace; incidents wait as long for their cover.
DEFAULT_GRACE_MS = 2 * 3_600_000


@dataclass(frozen=True, slots=True)
class Emit:
    """A record to send: its contract, the topics it goes to, the record key and the record."""

    contract: str
    topics: tuple[str, ...]
    key: str
    record: dict

    @property
    def idempotency_key(self) -> str:
        """For HTTP sinks: stable per version (e.g. platform + worker + date + version)."""
        return f"{self.key}:v{self.record['version']}" if "version" in self.record else self.key


@dataclass(frozen=True, slots=True)
class DuplicateOrder:
    """A second OrderCover for a counted order_ref (another event): the premium is not counted."""

    platform_id: str
    province: str
    order_ref: str
