"""Which worker runs the notice flows: the single owner of the group ``<app_id>-notices``.

The notice state is global (open sites, areas, tracks, ...), so the loop's consumer uses
:class:`streams.runtime.broker.single_owner.SingleOwnerAssignor`: one worker gets every partition,
the others stand by. :class:`NoticeOwnership` is the loop's ``assigned``/``revoked`` callbacks:

* assigned something while owning nothing: the tables are cleared and restored from the state
  topic (retried until it succeeds or the loop stops) before any record is read;
* left with no partition: the in-memory state is dropped (its changes were already written with
  each batch) and the state gauges zeroed, so a stand-by worker never publishes or reports from a
  stale copy;
* :meth:`guard` is held by the timer: a tick does nothing unless this worker owns the flows, and a
  rebalance waits for a tick in progress.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

from gigbridge.logs import get_logger
from streams.runtime.notices import metrics
from streams.runtime.notices.state import LoggedTables
from streams.runtime.retry import retry_with_backoff

log = get_logger("gigbridge.notices")

ReadState = Callable[[], Awaitable[list]]


class NoticeOwnership:
    def __init__(self, tables: LoggedTables, read_state: ReadState, keep_trying: Callable[[], bool],
                 backoff_s: tuple[float, float] = (0.5, 10.0)) -> None:
        self.tables, self.read_state, self.keep_trying, self.backoff_s = tables, read_state, keep_trying, backoff_s
        self.owned: set = set()
        self.owner = False  # True once the state is restored for the partitions owned
        self._lock = asyncio.Lock()

    async def assigned(self, assigned: set) -> None:
        async with self._lock:
            if assigned and not self.owner and not await self._restore():
                return  # stopping: the loop reads nothing more
            self.owned |= set(assigned)
            self.owner = bool(self.owned)
            metrics.OWNER.set(int(self.owner))

    async def revoked(self, revoked: set) -> None:
        async with self._lock:
            self.owned -= set(revoked)
            if not self.owned and self.owner:
                self.owner = False
                self.tables.clear()
                metrics.stand_by()
                log.info("notice flows handed over: state dropped")

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[bool]:
        """Yields whether this worker owns the flows now; no rebalance callback runs meanwhile."""
        async with self._lock:
            yield self.owner

    async def _restore(self) -> bool:
        """True once the tables hold the state topic's content; False if stopped first."""
        async def read_and_apply() -> None:
            records = await self.read_state()
            self.tables.clear()
            self.tables.restore(records)
            log.info("notice state restored", records=len(records))

        return await retry_with_backoff(read_and_apply, self.keep_trying, log,
                                        "notice state not restored yet, retrying", self.backoff_s)
