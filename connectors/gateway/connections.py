"""Connection-level limits of the gateway, below the request handlers.

* **A cap on open connections** (``max_connections``). Every connection costs a file
  descriptor, and aiohttp closes one that has not sent complete request headers only after
  ``keepalive_timeout_s``, so slow-loris clients could otherwise hold every descriptor the process
  has. When a new connection takes the count over the cap, the gateway closes the **oldest
  connection that has no request in progress** (idle keep-alive, or request headers still
  dribbling in; one that has sent nothing yet only after a second of grace); a connection that
  is busy with a request is never cut. If no connection can go (all busy, or just connected),
  the new one is answered ``503 too-many-connections`` (``Retry-After: 1``) and closed. Slow
  connections therefore cannot lock other platforms out: a new request finds room at the
  expense of the oldest idle connection.
* **Malformed HTTP** (bad request line, header line over 8190 bytes, more than 64 headers, broken
  chunked framing...) is answered as an RFC 9457 problem (``400 malformed-request``) like every
  other error, logged without a traceback, and the connection is closed.

:meth:`ConnectionLimits.install` hooks both into the ``web.Server`` of a set-up ``AppRunner``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from gigbridge.logs import get_logger

from .metrics import GatewayMetrics
from .problems import PROBLEM_CONTENT_TYPE, SECURITY_HEADERS, Problem, secure

__all__ = ["ConnectionLimits"]

log = get_logger("connectors.gateway.connections")


class ConnectionLimits:
    """The cap on open connections of one gateway app, and the state of each connection.

    A connection is **busy** from the moment a complete request head has arrived until its
    response has been written; busy connections are never evicted. Of the idle ones, the
    oldest that has sent something (a partial head, or whole requests answered before) goes
    first, then the oldest that has sent nothing for ``grace_s``. One that has just connected
    and sent nothing yet is never cut: its request may be on its way in (under a storm of new
    connections the event loop accepts faster than it reads), so the newcomer is refused with
    a 503 instead, an answer its client can act on (retry), unlike a silently closed socket."""

    def __init__(self, max_connections: int, metrics: GatewayMetrics, grace_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_connections = max_connections
        self.metrics = metrics
        self.grace_s = grace_s
        self.clock = clock
        self.busy: dict[Any, int] = {}       # protocol -> requests whose head arrived, not yet answered
        self.opened: dict[Any, float] = {}   # protocol -> when it connected
        self.spoke: set[Any] = set()         # protocols that have sent at least one byte

    def received(self, protocol: Any, heads: int) -> None:
        """``protocol`` received bytes, completing ``heads`` request heads."""
        self.spoke.add(protocol)
        if heads:
            self.busy[protocol] = self.busy.get(protocol, 0) + heads

    def answered(self, protocol: Any) -> None:
        """One request of ``protocol`` has been answered (its response written)."""
        n = self.busy.pop(protocol, 1) - 1
        if n > 0:
            self.busy[protocol] = n

    def install(self, server: web.Server) -> None:
        """Apply the limits to ``server`` (``runner.server`` after ``await runner.setup()``)."""
        server.__class__ = _LimitedServer
        server.gigbridge_limits = self  # type: ignore[attr-defined]

    def admit(self, server: web.Server, new: RequestHandler) -> None:
        """Called after ``new`` was added to ``server.connections``: shed one if over the cap."""
        now = self.clock()
        self.opened[new] = now
        connections = [h for h in server.connections if h.transport is not None]  # open ones, oldest first
        self.metrics.connections.set(len(connections))
        if len(connections) <= self.max_connections:
            return
        idle = [h for h in connections if h is not new and h not in self.busy
                and (h in self.spoke or now - self.opened.get(h, now) >= self.grace_s)]
        victim = min(idle, default=None, key=lambda h: h not in self.spoke)  # min is stable: oldest first
        if victim is not None:
            self.metrics.connections_closed.labels("evicted").inc()
            victim.force_close()
            return
        self.metrics.connections_closed.labels("refused").inc()
        if new.transport is not None:
            new.transport.write(_too_many_connections(self.max_connections))
        new.force_close()

    def lost(self, server: web.Server, handler: RequestHandler) -> None:
        self.busy.pop(handler, None)
        self.opened.pop(handler, None)
        self.spoke.discard(handler)
        self.metrics.connections.set(sum(1 for h in server.connections if h.transport is not None))


def _too_many_connections(limit: int) -> bytes:
    problem = Problem("too-many-connections", f"the gateway holds at most {limit} connections and none of them "
                      "can be closed now; nothing of this request was read, retry",
                      headers={"Retry-After": "1"}, retry_after_s=1)
    body = json.dumps(problem.body("/")).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {PROBLEM_CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in SECURITY_HEADERS.items()) + "\r\n")
    return head.encode() + body


class _ProblemRequestHandler(RequestHandler):
    """aiohttp's connection protocol, answering protocol errors as problem details and telling
    :class:`ConnectionLimits` when a complete request head has arrived and when its response
    has been written (uses aiohttp internals: ``_request_count``, ``_handle_request``)."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        before = self._request_count  # aiohttp counts the request heads it has parsed
        super().data_received(data)
        limits = getattr(self._manager, "gigbridge_limits", None)
        if limits is not None:
            limits.received(self, self._request_count - before)

    async def _handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """aiohttp's handling of one request, up to its response written."""
        try:
            return await super()._handle_request(*args, **kwargs)
        finally:
            limits = getattr(self._manager, "gigbridge_limits", None)
            if limits is not None:
                limits.answered(self)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response is under way, nothing more can be said
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        limits = getattr(self._manager, "gigbridge_limits", None)
        if status == 400:
            if limits is not None:
                limits.metrics.connections_closed.labels("malformed").inc()
            log.info("malformed HTTP request", error=type(exc).__name__ if exc else None)
            # the exception's message may quote the client's bytes: only its class is named
            problem = Problem("malformed-request", "the request is not valid HTTP/1.1 "
                              f"({type(exc).__name__ if exc else 'unparsable'}); the connection is closed")
        else:
            log.error("gateway connection failed", error=type(exc).__name__ if exc else None, exc_info=exc)
            problem = Problem("internal-error", "unexpected error; it has been logged")
        resp = problem.response(_path(request))
        secure(resp.headers)  # no app here to add them on response_prepare
        resp.force_close()
        return resp


def _path(request: Any) -> str:
    try:
        return str(request.path)
    except Exception:  # noqa: BLE001 - the request line itself may be what could not be parsed
        return "/"


class _LimitedServer(web.Server):
    """``web.Server`` with :class:`ConnectionLimits` (set by :meth:`ConnectionLimits.install`)."""

    gigbridge_limits: ConnectionLimits

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        handler.__class__ = _ProblemRequestHandler
        return handler

    def connection_made(self, handler: RequestHandler, transport: Any) -> None:
        super().connection_made(handler, transport)
        self.gigbridge_limits.admit(self, handler)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self.gigbridge_limits.lost(self, handler)
