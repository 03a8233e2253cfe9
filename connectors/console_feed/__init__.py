"""The console's read model from Kafka (issue #18): :func:`kafka_console_data` gives the
:class:`connectors.console.data.ConsoleData` the console serves and the feed that keeps it current.

Wiring (one call in the console's start-up, in its event loop)::

    data, feed = kafka_console_data(settings)
    task = asyncio.create_task(feed.run(stop))   # stop: an asyncio.Event set on shutdown
    # pages: data.freshness() -> FreshnessStatus(state, as_of_ms, lag_records, ...)
"""

from __future__ import annotations

import time
from typing import Callable

from connectors.console_feed.feed import ConsoleFeed, kafka_consumer
from connectors.console_feed.fold import Bounds, ConsoleView, Folder
from connectors.console_feed.queries import ViewConsoleData
from gigbridge.divisions import default_table
from gigbridge.settings import Settings
from schemas.catalog import default_catalog


def kafka_console_data(settings: Settings, *, clock: Callable[[], float] = time.time,
                       new_consumer: Callable[[], object] | None = None) -> tuple[ViewConsoleData, ConsoleFeed]:
    """The view, its queries and its feed; nothing connects until ``feed.run`` is awaited."""
    view = ConsoleView()
    folder = Folder(view, Bounds(max_incidents=settings.console_max_incidents))
    feed = ConsoleFeed(folder, default_catalog(), new_consumer or (lambda: kafka_consumer(settings)), clock=clock,
                       stale_after_s=settings.console_stale_after_s)
    return ViewConsoleData(view, feed.status, default_table().exists), feed
