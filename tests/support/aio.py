"""Helpers for asyncio tests without sleeps: poll a condition with a deadline, and a backoff
that is not waited out."""

from __future__ import annotations

import asyncio
import time


async def no_wait(_: float) -> None:
    """Stands in for ``asyncio.sleep`` of a backoff: a yield, no wait."""
    await asyncio.sleep(0)


async def until(condition, what: str, timeout_s: float = 10.0) -> None:
    """Yield to the tasks under test until ``condition()`` holds; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)  # a yield to the tasks under test, not a wait for time to pass
