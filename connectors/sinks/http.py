"""HTTP sink: signed JSON POSTs to an insurer's claim endpoint or an office webhook.

One instance per endpoint (url + secret + name). Each record is POSTed as canonical JSON with
``Idempotency-Key: <event_id>`` and the ``X-Gigbridge-Timestamp`` / ``X-Gigbridge-Signature``
headers (see :mod:`connectors.signing`, ``docs/webhook-signatures.md``).

Outcomes:

* 2xx → :class:`Delivered`, receipt ``{"claim_reference", "status", "latency_ms", "attempts",
  "delivered_at"}``; ``claim_reference`` is the response JSON's ``claim_reference`` (or
  ``reference``), else ``None``.
* network error, timeout, 5xx, 408, 429 → retried forever with exponential backoff + full
  jitter, honouring ``Retry-After`` (seconds or HTTP-date, capped at ``max_retry_after_s``).
* any other status (other 4xx, and 3xx: redirects are not followed) → :class:`DeadLetter`
  ``reason="http_<code>"`` with at most 4 KiB of the response body.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from typing import Any, Callable, Iterable

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from connectors.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_json, sign
from connectors.sinks.base import (
    BufferedSink,
    PermanentError,
    RetryableError,
    RetryHook,
    Sleep,
    SinkRecord,
    truncate_body,
)

USER_AGENT = "gigbridge-sink/1"
DEFAULT_RETRYABLE_STATUSES = frozenset({408, 429})
MAX_READ_BYTES = 1 << 20  # we only need a receipt or an error text; never buffer more


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (relative
    to unix time ``now``). ``None`` if absent or unparseable; never negative."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _claim_reference(raw: bytes) -> Any:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict):
        ref = doc.get("claim_reference")
        return ref if ref is not None else doc.get("reference")
    return None


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class HttpSink(BufferedSink):
    """Signed HTTP POST sink (insurer claims, office webhooks).

    ``session_factory`` is called once in :meth:`start` (never in ``__init__``); the sink owns
    and closes the session it returns. ``clock`` gives unix seconds for the signature timestamp
    (taken fresh on every attempt), ``sleep``/``rng`` drive the backoff. ``concurrency`` is
    the number of parallel requests per flush; records sharing a ``key`` go one at a time.
    ``paused`` is True while at least one record is backing off.
    """

    def __init__(self, url: str, secret: bytes | str, name: str, *,
                 session_factory: Callable[[], aiohttp.ClientSession] | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Sleep = asyncio.sleep,
                 rng: random.Random | None = None,
                 connect_timeout_s: float = 2.0,
                 total_timeout_s: float = 10.0,
                 base_backoff_s: float = 0.5,
                 max_backoff_s: float = 60.0,
                 max_retry_after_s: float = 300.0,
                 concurrency: int = 8,
                 on_retry: RetryHook | None = None,
                 retryable_statuses: Iterable[int] = DEFAULT_RETRYABLE_STATUSES) -> None:
        super().__init__(name, sleep=sleep, rng=rng, base_backoff_s=base_backoff_s,
                         max_backoff_s=max_backoff_s, max_retry_after_s=max_retry_after_s,
                         concurrency=concurrency, on_retry=on_retry)
        parsed = URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"sink {name}: not an absolute http(s) URL: {url!r}")
        if not secret:
            raise ValueError(f"sink {name}: empty secret")
        self.url = url
        self._secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=total_timeout_s, connect=connect_timeout_s)
        self._session_factory = session_factory or self._default_session
        self._session: aiohttp.ClientSession | None = None
        self._retryable_statuses = frozenset(retryable_statuses)

    def __repr__(self) -> str:  # never show the secret
        return f"HttpSink(name={self.name!r}, url={self.url!r}, pending={self.pending})"

    def _default_session(self) -> aiohttp.ClientSession:
        # One connection per parallel request; keep-alive across flushes.
        connector = aiohttp.TCPConnector(limit=max(self.concurrency, 1))
        return aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                     headers={"User-Agent": USER_AGENT})

    async def _open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = self._session_factory()

    async def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _headers(self, record: SinkRecord, body: bytes, timestamp: int) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(record.headers)
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = record.idempotency_key
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        return headers

    async def _attempt(self, record: SinkRecord, attempt: int) -> tuple[int, dict[str, Any]]:
        try:
            body = canonical_json(record.value)
        except (TypeError, ValueError) as exc:
            raise PermanentError(str(exc), reason="unserializable", body=str(exc)) from exc
        if self._session is None:
            raise RuntimeError(f"sink {self.name} not started")
        timestamp = int(self._clock())
        headers = self._headers(record, body, timestamp)
        started = time.monotonic()
        try:
            async with self._session.post(self.url, data=body, headers=headers,
                                          timeout=self._timeout, allow_redirects=False) as resp:
                status = resp.status
                retry_after_header = resp.headers.get("Retry-After")
                raw = await _read_capped(resp, MAX_READ_BYTES)
        except TimeoutError as exc:  # asyncio.TimeoutError is TimeoutError on 3.11
            raise RetryableError(f"{type(exc).__name__}: {exc}", reason="timeout") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}", reason="connection_error") from exc
        latency_ms = round((time.monotonic() - started) * 1000, 3)
        if 200 <= status < 300:
            return status, {"claim_reference": _claim_reference(raw), "status": status,
                            "latency_ms": latency_ms, "delivered_at": self._clock()}
        if status >= 500 or status in self._retryable_statuses:
            raise RetryableError(f"HTTP {status}", reason=f"http_{status}", status=status,
                                 retry_after=parse_retry_after(retry_after_header, self._clock()),
                                 body=truncate_body(raw))
        raise PermanentError(f"HTTP {status}", status=status, body=raw)
