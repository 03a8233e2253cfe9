"""Per-platform admission control: an event token bucket and a concurrent-request cap.

Both answer immediately (admit or "retry after N s"); nothing ever waits on a bucket, so one
platform hitting its limit never stalls another platform's requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = ["PlatformLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` stored; starts full."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def _refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:  # a clock that goes backwards refills nothing (and is not penalised)
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def take(self, n: float, now: float) -> float:
        """Take ``n`` tokens and return 0, or take nothing and return the seconds until ``n``
        tokens will be there."""
        self._refill(now)
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens


class PlatformLimiter:
    """One :class:`TokenBucket` (events/s) and one in-flight counter per platform."""

    def __init__(self, rate: float, burst: int, max_inflight: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.max_inflight = max_inflight
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._inflight: dict[str, int] = {}

    def _bucket(self, platform: str) -> TokenBucket:
        bucket = self._buckets.get(platform)
        if bucket is None:
            bucket = self._buckets[platform] = TokenBucket(self.rate, self.burst, self.burst, self._clock())
        return bucket

    def empty_wait(self, platform: str) -> int:
        """0 if the platform's bucket holds at least one token, else whole seconds to wait
        (checked before the body is read, so a throttled platform does not even upload)."""
        missing = 1 - self._bucket(platform).available(self._clock())
        return 0 if missing <= 0 else max(1, math.ceil(missing / self.rate))

    def take(self, platform: str, events: int) -> int:
        """Admit ``events`` events (0) or refuse all of them: whole seconds for Retry-After."""
        wait = self._bucket(platform).take(events, self._clock())
        return 0 if wait <= 0 else max(1, math.ceil(wait))

    def enter(self, platform: str) -> bool:
        n = self._inflight.get(platform, 0)
        if n >= self.max_inflight:
            return False
        self._inflight[platform] = n + 1
        return True

    def leave(self, platform: str) -> None:
        n = self._inflight.get(platform, 0) - 1
        if n <= 0:
            self._inflight.pop(platform, None)
        else:
            self._inflight[platform] = n
