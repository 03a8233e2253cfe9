"""How current the console's view is: "data as of <time>" and the banner, as pure bookkeeping.

The consumer reports, per partition after each poll, its position, the partition's high-water
mark from the last fetch response, and when that response arrived (all three from the Kafka
client). A partition whose position has reached that high-water mark holds everything written
to it before that response: its *as-of* time is the response's time. The view's as-of time is
the oldest of its partitions'. Guarantee: every record written to a followed partition before
``as_of_ms`` (as seen by the broker's fetch responses) is in the view.

States (:func:`Freshness.status`), for the banner:

* ``loading``: not every followed partition has been read to its end once (first start);
* ``unreachable``: no fetch response for ``stale_after_ms`` (since the start or the last one:
  the broker is down or unreachable);
* ``lagging``: responses arrive but the view is more than ``stale_after_ms`` behind;
* ``live``: otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Literal

State = Literal["loading", "unreachable", "lagging", "live"]


@dataclass(frozen=True, slots=True)
class FreshnessStatus:
    state: State
    as_of_ms: int | None  # None until every partition was read to its end once
    lag_records: int  # records written but not yet in the view (as of the last responses)
    last_response_ms: int | None


@dataclass
class Freshness:
    stale_after_ms: int = 15_000
    started_ms: int | None = None  # when the consumer started: no response since then for long = unreachable
    _caught_up_at: dict[Hashable, int] = field(default_factory=dict)
    _lag: dict[Hashable, int] = field(default_factory=dict)
    _last_response_ms: int | None = None

    def observe(self, partition: Hashable, position: int, highwater: int | None, response_ms: int | None) -> None:
        """One partition after a poll; ``highwater``/``response_ms`` None: no fetch response yet."""
        if highwater is None or response_ms is None:
            self._lag.setdefault(partition, 0)
            return
        self._lag[partition] = max(0, highwater - position)
        if self._last_response_ms is None or response_ms > self._last_response_ms:
            self._last_response_ms = response_ms
        if position >= highwater:
            self._caught_up_at[partition] = max(response_ms, self._caught_up_at.get(partition, response_ms))

    def forget_except(self, partitions: set) -> None:
        """Drop partitions no longer followed (a deleted topic must not hold the as-of time back)."""
        for table in (self._caught_up_at, self._lag):
            for gone in set(table) - partitions:
                del table[gone]

    def status(self, now_ms: int) -> FreshnessStatus:
        lag = sum(self._lag.values())
        unseen = set(self._lag) - set(self._caught_up_at)
        as_of = None if unseen or not self._caught_up_at else min(self._caught_up_at.values())
        last = self._last_response_ms
        waiting_since = last if last is not None else self.started_ms
        if waiting_since is not None and now_ms - waiting_since > self.stale_after_ms:
            state: State = "unreachable"
        elif last is None or as_of is None:
            state = "loading"
        elif now_ms - as_of > self.stale_after_ms:
            state = "lagging"
        else:
            state = "live"
        return FreshnessStatus(state, as_of, lag, last)
