"""Retrying a step that must succeed before a stream may go on (a state replay on assignment)."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable


async def retry_with_backoff(attempt: Callable[[], Awaitable[Any]], keep_trying: Callable[[], bool], log: Any,
                             message: str, backoff_s: tuple[float, float] = (0.5, 10.0),
                             sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> bool:
    """Await ``attempt()`` until it returns (True) or ``keep_trying()`` is false (False); each
    failure is logged as ``message`` and followed by a backoff doubling up to ``backoff_s[1]``."""
    backoff = backoff_s[0]
    while keep_trying():
        try:
            await attempt()
            return True
        except Exception as exc:  # noqa: BLE001 - broker unreachable, topic being created
            log.warning(message, error=f"{type(exc).__name__}: {exc}", backoff_s=backoff)
            await sleep(backoff)
            backoff = min(backoff * 2, backoff_s[1])
    return False
