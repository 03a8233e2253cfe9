"""The registry's view of the broker's topics (for ``GET /subjects``): a
:data:`connectors.registry.api.TopicLister` over aiokafka's admin client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["KafkaTopicLister"]


class KafkaTopicLister:
    """Lists the broker's topics with aiokafka's admin client; cached for ``ttl_s``.

    Connects per refresh (at most every ``ttl_s``), so it holds no connection between calls;
    every step is bounded by ``timeout_s``.
    """

    def __init__(self, kafka_config: dict, *, ttl_s: float = 10.0, timeout_s: float = 5.0) -> None:
        self._config = {k: v for k, v in kafka_config.items() if v is not None}
        if isinstance(self._config.get("bootstrap_servers"), (list, tuple)):
            self._config["bootstrap_servers"] = ",".join(self._config["bootstrap_servers"])
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._cached: tuple[float, list[str]] | None = None
        self._failed_at: float | None = None  # a failed refresh is not retried for ttl_s
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "KafkaTopicLister":
        return cls(settings.aiokafka_config, **kwargs)

    async def __call__(self) -> list[str]:
        """The broker's topics; on a failed refresh the last good list (stale) if there is one."""
        if self._cached and time.monotonic() - self._cached[0] < self._ttl_s:
            return self._cached[1]
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < self._ttl_s:
                return self._cached[1]
            if self._failed_at is not None and time.monotonic() - self._failed_at < self._ttl_s:
                return self._stale_or_raise(ConnectionError("listing topics failed recently; retrying later"))
            try:
                topics = await self._list()
            except Exception as exc:  # noqa: BLE001 - connection, auth, timeout
                self._failed_at = time.monotonic()
                return self._stale_or_raise(exc)
            self._cached, self._failed_at = (time.monotonic(), topics), None
            return topics

    def _stale_or_raise(self, exc: Exception) -> list[str]:
        if self._cached is None:
            raise exc
        return self._cached[1]

    async def _list(self) -> list[str]:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(client_id="gigbridge-registry",
                                    request_timeout_ms=int(self._timeout_s * 1000), **self._config)
        try:
            async with asyncio.timeout(self._timeout_s):
                await admin.start()
                return sorted(await admin.list_topics())
        finally:
            try:
                async with asyncio.timeout(self._timeout_s):
                    await admin.close()
            except Exception:  # noqa: BLE001 - closing a half-started client
                pass
