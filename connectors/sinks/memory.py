"""In-memory sink for tests of callers (and the second implementation of the contract test).

It behaves like a well-behaved idempotent destination: the first delivery of an
``idempotency_key`` creates a claim (``MEM-<n>``), a repeat returns the same reference and
is not stored again. Knobs:

* ``fail_permanently`` / :meth:`reject` — these keys end as ``DeadLetter(status, "http_<status>")``.
* :meth:`go_down` / :meth:`come_up` — while down every attempt is a transient failure, so a
  flush keeps retrying (``paused`` is True) until the sink comes up again or is stopped:
  exactly what a caller sees while an insurer is unreachable.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Iterable

from connectors.sinks.base import (
    BufferedSink,
    PermanentError,
    RetryableError,
    RetryHook,
    Sleep,
    SinkRecord,
)


class InMemorySink(BufferedSink):
    def __init__(self, name: str = "memory", *, fail_permanently: Iterable[str] = (),
                 fail_status: int = 422, fail_body: str = '{"error":"rejected"}',
                 sleep: Sleep = asyncio.sleep, rng: random.Random | None = None,
                 base_backoff_s: float = 0.001, max_backoff_s: float = 0.05,
                 concurrency: int = 8, on_retry: RetryHook | None = None) -> None:
        super().__init__(name, sleep=sleep, rng=rng, base_backoff_s=base_backoff_s,
                         max_backoff_s=max_backoff_s, concurrency=concurrency, on_retry=on_retry)
        self._rejected: dict[str, tuple[int, str]] = {
            key: (fail_status, fail_body) for key in fail_permanently}
        self._fail_status = fail_status
        self._fail_body = fail_body
        self._down_reason: str | None = None
        self.delivered: list[SinkRecord] = []         # one per idempotency key, first delivery
        self.attempts: list[SinkRecord] = []          # every attempt, duplicates included
        self.references: dict[str, str] = {}          # idempotency key -> claim reference

    def reject(self, idempotency_key: str, status: int | None = None, body: str | None = None) -> None:
        """Make ``idempotency_key`` fail permanently from now on."""
        self._rejected[idempotency_key] = (status or self._fail_status,
                                           self._fail_body if body is None else body)

    def go_down(self, reason: str = "connection_error") -> None:
        """Every attempt fails transiently until :meth:`come_up`."""
        self._down_reason = reason

    def come_up(self) -> None:
        self._down_reason = None

    @property
    def down(self) -> bool:
        return self._down_reason is not None

    def claims_for(self, idempotency_key: str) -> int:
        return sum(1 for r in self.delivered if r.idempotency_key == idempotency_key)

    async def _attempt(self, record: SinkRecord, attempt: int) -> tuple[int, dict[str, Any]]:
        await asyncio.sleep(0)  # behave like I/O: other tasks run between attempts
        self.attempts.append(record)
        if self._down_reason is not None:
            raise RetryableError(reason=self._down_reason)
        rejected = self._rejected.get(record.idempotency_key)
        if rejected is not None:
            status, body = rejected
            raise PermanentError(status=status, body=body)
        key = record.idempotency_key
        ref = self.references.get(key)
        if ref is None:
            ref = self.references[key] = f"MEM-{len(self.references) + 1}"
            self.delivered.append(record)
        return 200, {"claim_reference": ref, "status": 200, "latency_ms": 0.0}
