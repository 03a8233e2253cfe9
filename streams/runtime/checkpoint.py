"""The checkpoint of a consume loop: the only place that commits input offsets.

For every batch, in batch order:

1. its outputs are acknowledged by the broker (the awaitable the processing step returned);
2. its state is durable: ``state.persist(outcome)`` is called as soon as (1) holds and
   returns an awaitable (or None: nothing to wait for), e.g. the dedupe log written with the
   entries of other batches (group commit);
3. only then are its input offsets committed.

Up to the loop's pipeline depth batches wait for (1) at once; (2) and (3) trail behind in a
chain of links, one per batch, each waiting for the link before it, so commits happen strictly
in batch order without holding up the next batch. A failure anywhere rewinds: if (1) fails,
no later batch is committed and every partition is sought back to the failed batch's first
offsets; if (2) fails, neither that batch nor any later one is committed, and the loop seeks
back to the first offsets of all of them before it handles another batch
(:meth:`Checkpoint.rewind`). A failed commit (rebalance, broker gone) is not retried: the
batch is read again and the state (the dedupe log) drops what it already delivered. So every
input offset is either reflected in acknowledged outputs before it is committed, or read again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass
from typing import Any, Awaitable, Protocol

from gigbridge.logs import get_logger
from streams.runtime.broker.protocols import Consumer

log = get_logger("gigbridge.checkpoint")

RETRY_BACKOFF_S = (0.5, 10.0)


class State(Protocol):
    """The pluggable state step between acknowledged outputs and the commit."""

    def persist(self, outcome: Any) -> Awaitable[None] | None:
        """Called once a batch's outputs are acknowledged, with what its acknowledgement
        returned; the awaitable resolves once the batch's state is durable (raises: it is not)."""


class NoState:
    """For streams whose outputs are their whole outcome (HTTP delivery: the receipts)."""

    def persist(self, outcome: Any) -> None:
        return None


def keep_earliest(first: dict, offsets: dict) -> dict:
    """Merge ``offsets`` (partition -> offset) into ``first``, keeping the lower per partition."""
    for tp, offset in offsets.items():
        first[tp] = min(first.get(tp, offset), offset)
    return first


@dataclass
class _InFlight:
    first: dict   # tp -> first offset of the batch
    next: dict    # tp -> offset to commit once it is durable
    done: asyncio.Future  # outputs acknowledged; resolves to the durability awaitable (or None)


class Checkpoint:
    """``consumer`` is the loop's (it commits and seeks); ``backoff_s`` grows after each failure
    and resets after a batch that succeeds (the loop sleeps it before a retry)."""

    def __init__(self, consumer: Consumer, state: State | None = None, name: str = "stream",
                 backoff_s: tuple[float, float] = RETRY_BACKOFF_S) -> None:
        self.consumer, self.state, self.name = consumer, state or NoState(), name
        self.backoff_range = backoff_s
        self.backoff_s = backoff_s[0]
        self._inflight: collections.deque[_InFlight] = collections.deque()
        self._commit: asyncio.Future | None = None  # the last link of the commit chain
        # Set by a link whose batch's state failed: first offsets of it and every later batch
        # (none of them committed), to be read again.
        self._unwound: dict | None = None
        self._unwound_error: BaseException | None = None

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def unwound(self) -> bool:
        """A batch's state failed: :meth:`rewind` before the next batch."""
        return self._unwound is not None

    def track(self, first: dict, next_offsets: dict, acknowledged: Awaitable[Any]) -> None:
        """A batch whose outputs were sent: ``acknowledged`` resolves once the broker
        acknowledged all of them."""
        self._inflight.append(_InFlight(first, next_offsets, asyncio.ensure_future(self._persist_after(acknowledged))))

    async def _persist_after(self, acknowledged: Awaitable[Any]) -> Awaitable[None] | None:
        return self.state.persist(await acknowledged)

    async def settle(self, keep: int) -> bool:
        """Finish in-flight batches, oldest first, until at most ``keep`` are left (and every
        one already done), adding each one to the commit chain. If one fails, none after it is
        committed: they are awaited, and every partition is sought back to the failed batch's
        first offsets (the later ones are read again, never skipped). False after a failure."""
        while self._inflight and (len(self._inflight) > keep or self._inflight[0].done.done()):
            oldest = self._inflight.popleft()
            try:
                durable = await oldest.done
            except Exception as exc:  # noqa: BLE001 - a failed batch is read again
                first = dict(oldest.first)
                while self._inflight:
                    later = self._inflight.popleft()
                    with contextlib.suppress(Exception):
                        await later.done
                    keep_earliest(first, later.first)
                self.retry_from(first, exc)
                return False
            self.backoff_s = self.backoff_range[0]
            self._commit = asyncio.ensure_future(self._commit_when_durable(self._commit, durable, oldest))
        return True

    async def drain(self) -> None:
        """Every batch in flight finished and its commit done (or the rewind recorded)."""
        await self.settle(keep=0)
        if self._commit is not None:
            await self._commit
            self._commit = None

    async def _commit_when_durable(self, previous: asyncio.Future | None, durable: Awaitable[None] | None,
                                   batch: _InFlight) -> None:
        """One link of the commit chain: after the link before it, once ``batch`` is durable,
        commit its offsets. Never raises: a failure is recorded in ``_unwound`` instead."""
        if previous is not None:
            await previous
        if durable is not None and self._unwound is None:
            try:
                await durable
            except Exception as exc:  # noqa: BLE001 - the batch and everything after it is read again
                self._unwound, self._unwound_error = {}, exc
        if self._unwound is not None:
            keep_earliest(self._unwound, batch.first)
            return
        await self._commit_offsets(batch.next)

    async def rewind(self, fetched: dict) -> None:
        """A batch's state failed: let every batch in flight finish (none is committed now),
        then seek back to the first uncommitted offsets, including the batch just ``fetched``."""
        await self.drain()
        first = keep_earliest(self._unwound or {}, fetched)
        error, self._unwound, self._unwound_error = self._unwound_error, None, None
        self.retry_from(first, error)

    def retry_from(self, first: dict, exc: BaseException | None) -> None:
        """Seek every owned partition of ``first`` back to its offset there; grow the backoff."""
        log.error("batch failed; it will be read again", stream=self.name,
                  error=f"{type(exc).__name__}: {exc}", backoff_s=self.backoff_s, exc_info=exc)
        owned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in owned:
                self.consumer.seek(tp, offset)
        self.backoff_s = min(self.backoff_s * 2, self.backoff_range[1])

    async def _commit_offsets(self, offsets: dict) -> None:
        """Commit after the outcome is durable; it runs while the next batch is processed (the
        next commit, a rebalance and a stop wait for it)."""
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001
            log.warning("offset commit failed; the batch may be read again", stream=self.name,
                        error=f"{type(exc).__name__}: {exc}")
