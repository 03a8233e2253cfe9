"""HTTP ingest gateway (aiohttp.web): platforms POST JSON events, the hub validates them with
the stream's own rules and writes the accepted ones to ``platform.<id>.<type>`` before answering.

Routes (see ``GET /openapi.json`` for the full contract):

* ``POST /v1/events/{type}`` (sites | headcounts | incidents | orders, and the case streams cases |
  case-events: :mod:`connectors.gateway.cases`), ``Authorization: Bearer <token>``,
  body a JSON array of events (``application/json``) or JSON lines (``application/x-ndjson``).
  200: every event accepted and acknowledged by Kafka (acks=all, idempotent producer); 207:
  some or all rejected, per event ``reason``/``field``/``message``. Errors are RFC 9457 problem
  details (400 401 403 404 408 413 415 429 503, see :mod:`connectors.gateway.problems`).
* ``POST /v1/units/{unit_id}/case-events|incident-acks`` (a handling unit's token,
  :mod:`connectors.gateway.cases`), ``POST /v1/insurance/{province}/claim-status``
  (:mod:`connectors.gateway.claims`), ``POST /v1/alerts/cap`` (:mod:`connectors.gateway.alerts`).
* ``GET /healthz`` (liveness), ``GET /readyz`` (the producer is connected and a metadata
  refresh succeeds within 2 s), ``GET /metrics``,
  ``GET /openapi.json``.
* ``/registry/...``: the read-only Confluent-compatible schema registry
  (:mod:`connectors.registry`), same port.

Order of checks for an ingest request, cheapest first, so abusive requests cost little: type
(404) -> token (401) -> Content-Type (415) -> declared length (413) -> platform's bucket empty /
too many requests in flight (429) -> body read, bounded in bytes and time (413 / 408) -> parse
(400, 413 for too many events) -> another platform's ``platform_id`` (403) -> rate limit for
this many events (429) -> validation (per event) -> produce and await every ack (503 if not).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from gigbridge.logs import get_logger
from schemas.catalog import Catalog, default_catalog
from streams.context import build_context
from streams.core.context import Context
from streams.core.cases.units import UnitBook
from streams.core.validate import EVENT_TYPES, PLATFORM_ID_RE, Rejection

from .alerts import add_alert_routes
from .body import media_type_of, parse_events, read_body
from .cases import PLATFORM_CASE_STREAMS, add_unit_case_routes
from .claims import InsurerDirectory, add_claim_status_route
from .config import GatewayConfig, TokenStore, bearer_token, unit_token_store
from .connections import ConnectionLimits
from .judges import judge_for
from .metrics import GatewayMetrics, metrics_for
from .openapi import build_openapi
from .problems import Problem, secure
from .producer import EventProducer, KafkaEventProducer, ProduceError
from .ratelimit import PlatformLimiter

__all__ = ["GATEWAY", "REGISTRY_PREFIX", "Gateway", "create_gateway_app"]

log = get_logger("connectors.gateway")

REGISTRY_PREFIX = "/registry"
#: What ``POST /v1/events/{type}`` takes: the ingest event types and the platforms' case streams.
INGEST_TYPES = (*EVENT_TYPES, *PLATFORM_CASE_STREAMS)
_DEFAULT = object()
PLATFORM_KEY = web.RequestKey("gigbridge.gateway.platform", str)


class Gateway:
    """State and handlers of one gateway app (built by :func:`create_gateway_app`)."""

    def __init__(self, config: GatewayConfig, producer: EventProducer, tokens: TokenStore,
                 clock: Callable[[], float], catalog: Catalog, metrics: GatewayMetrics,
                 division_exists: Callable[[str], bool] | None = None, registry_prefix: str | None = None,
                 settings: Any = None) -> None:
        self.config = config
        self.settings = settings
        self.producer = producer
        self.tokens = tokens
        self.clock = clock
        self.catalog = catalog
        self.metrics = metrics
        self.registry_prefix = registry_prefix
        self.limiter = PlatformLimiter(config.rate_events_per_s, config.rate_burst, config.max_inflight, clock)
        self.connections = ConnectionLimits(config.max_connections, metrics)
        self._division_exists = division_exists
        self._ctx: Context | None = None

    # -- lazily built (no I/O at construction) -----------------------------------------------

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            # The worker's rules (streams.context): no settings given means the environment's.
            from gigbridge.settings import Settings

            settings = self.settings if self.settings is not None else Settings()
            self._ctx = build_context(settings, validate_only=True, catalog=self.catalog,
                                      division_exists=self._division_exists)
        return self._ctx

    @functools.cached_property
    def openapi_text(self) -> str:
        return json.dumps(build_openapi(self.catalog, self.config, registry_prefix=self.registry_prefix))

    # -- ingest ---------------------------------------------------------------------------------

    def authenticate(self, request: web.Request, tokens: TokenStore | None = None, who: str = "platform") -> str:
        """The owner of the request's bearer token in ``tokens`` (default: the platforms'), or 401."""
        header = request.headers.get("Authorization")
        if not header:
            raise Problem("missing-token", f"send the {who}'s token as `Authorization: Bearer <token>`",
                          headers={"WWW-Authenticate": 'Bearer realm="gigbridge"'})
        token = bearer_token(header)
        platform = (tokens or self.tokens).platform_for(token) if token is not None else None
        if platform is None:
            raise Problem("invalid-token", "the bearer token is not valid",
                          headers={"WWW-Authenticate": 'Bearer realm="gigbridge", error="invalid_token"'})
        return platform

    @functools.cached_property
    def units(self) -> UnitBook:
        """The handling units (deploy/units.yaml), for the case routes; read on first use."""
        from streams.loaders.cases import load_units

        return load_units()

    async def ingest(self, request: web.Request) -> web.Response:
        event_type = request.match_info["type"]
        if event_type not in INGEST_TYPES:
            raise Problem("unknown-event-type", f"event types are {', '.join(INGEST_TYPES)}",
                          event_types=list(INGEST_TYPES))
        platform = self.authenticate(request)
        request[PLATFORM_KEY] = platform
        media_type = media_type_of(request)
        return await self.admitted(platform, request, lambda: self._ingest_body(request, media_type, platform,
                                                                                 event_type))

    async def admitted(self, sender: str, request: web.Request,
                       handler: Callable[[], Awaitable[web.Response]]) -> web.Response:
        """``handler()`` if the declared length fits (413) and ``sender`` has tokens left and a free
        request slot (429); the slot is held until it returns."""
        cfg = self.config
        if request.content_length is not None and request.content_length > cfg.max_body_bytes:
            raise Problem("body-too-large", f"the request body is limited to {cfg.max_body_bytes} bytes; "
                          "split the batch", close=True, limit_bytes=cfg.max_body_bytes)
        wait = self.limiter.empty_wait(sender)
        if wait:
            raise _rate_limited(wait, cfg.rate_events_per_s)
        if not self.limiter.enter(sender):
            raise Problem("too-many-concurrent-requests",
                          f"at most {cfg.max_inflight} requests of one sender are processed at a time",
                          headers={"Retry-After": "1"}, retry_after_s=1)
        try:
            return await handler()
        finally:
            self.limiter.leave(sender)

    def take_rate(self, sender: str, events: int) -> None:
        """Take ``events`` from ``sender``'s bucket, or 429."""
        wait = self.limiter.take(sender, events)
        if wait:
            raise _rate_limited(wait, self.config.rate_events_per_s)

    def unavailable(self, exc: Exception) -> Problem:
        """The 503 for a batch Kafka did not acknowledge."""
        retry = self.config.unavailable_retry_after_s
        return Problem("kafka-unavailable", f"the events could not be written ({exc}); nothing was accepted, "
                       "retry the whole request", headers={"Retry-After": str(retry)}, retry_after_s=retry)

    async def _ingest_body(self, request: web.Request, media_type: str, platform: str,
                           event_type: str) -> web.Response:
        cfg = self.config
        body = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
        events = parse_events(body, media_type, cfg.max_events)
        return await self._process(platform, event_type, events)

    async def _process(self, platform: str, event_type: str, events: list[dict]) -> web.Response:
        spoofed = [i for i, e in enumerate(events)
                   if isinstance(pid := e.get("platform_id"), str) and PLATFORM_ID_RE.fullmatch(pid)
                   and pid != platform]
        if spoofed:
            raise Problem("platform-mismatch",
                          f"{len(spoofed)} event(s) carry another platform's platform_id; the token belongs to "
                          f"{platform!r}. Nothing was written.", indexes=spoofed[:100])
        self.take_rate(platform, len(events))

        now_ms = int(self.clock() * 1000)
        topic, judge = judge_for(self, platform, event_type)
        results: list[dict[str, Any]] = []
        to_send: list[tuple[bytes | None, bytes]] = []
        for i, event in enumerate(events):
            event_id, judged = judge(event, now_ms)
            if isinstance(judged, Rejection):
                results.append(_rejected(i, event_id, judged.reason, judged.field, judged.message))
            else:
                to_send.append(judged)
                results.append({"index": i, "event_id": event_id, "status": "accepted"})
        accepted = len(to_send)
        rejected = len(results) - accepted
        if to_send:
            try:
                await self.producer.send_batch(topic, to_send, self.config.produce_timeout_s)
            except ProduceError as exc:
                log.warning("gateway produce failed", platform=platform, topic=topic, events=accepted,
                            error=str(exc), cause=getattr(self.producer, "last_error", None))
                self.metrics.events.labels(platform, event_type, "unavailable").inc(accepted)
                if rejected:
                    self.metrics.events.labels(platform, event_type, "rejected").inc(rejected)
                raise self.unavailable(exc) from None
        if accepted:
            self.metrics.events.labels(platform, event_type, "accepted").inc(accepted)
        if rejected:
            self.metrics.events.labels(platform, event_type, "rejected").inc(rejected)
        body = {"platform_id": platform, "type": event_type, "topic": topic, "accepted": accepted,
                "rejected": rejected, "results": results}
        return web.json_response(body, status=200 if not rejected else 207)

    # -- operations -----------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        check = getattr(self.producer, "check", None)
        ready = await check(2.0) if check is not None else self.producer.ready
        if not ready:
            raise Problem("not-ready", "the Kafka producer is not connected yet",
                          headers={"Retry-After": "1"}, retry_after_s=1)
        return web.json_response({"status": "ready"})

    async def metrics_endpoint(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(self.metrics.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(text=self.openapi_text, content_type="application/json")


def _rejected(index: int, event_id: str | None, reason: str, field: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "event_id": event_id, "status": "rejected", "reason": reason, "field": field,
            "message": message}


def _rate_limited(wait: int, rate: float) -> Problem:
    return Problem("rate-limited", f"the platform's limit is {rate:g} events/s; retry after {wait} s",
                   headers={"Retry-After": str(wait)}, retry_after_s=wait)


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}

GATEWAY = web.AppKey("gigbridge.gateway", Gateway)


def _middleware(gateway: Gateway):
    registry_prefix = gateway.registry_prefix

    @web.middleware
    async def problems_and_metrics(request: web.Request, handler):
        path = request.path
        if registry_prefix and (path == registry_prefix or path.startswith(registry_prefix + "/")):
            return await handler(request)  # the registry answers in Confluent's error format
        is_ingest = path.startswith("/v1/")
        started = time.perf_counter()
        status = 500
        try:
            try:
                resp = await handler(request)
            except Problem as problem:
                resp = problem.response(path)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                slug = _HTTP_SLUGS.get(exc.status)
                headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
                if slug is None:
                    resp = web.Response(status=exc.status, text=json.dumps(
                        {"type": "about:blank", "title": exc.reason, "status": exc.status, "detail": exc.reason,
                         "instance": path}), content_type="application/problem+json", headers=headers)
                else:
                    resp = Problem(slug, exc.text if exc.status == 413 else f"{request.method} {path}: {exc.reason}",
                                   headers=headers).response(path)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - answer a problem, never a stack trace
                log.exception("gateway request failed", path=path)
                resp = Problem("internal-error", "unexpected error; it has been logged").response(path)
            status = resp.status
            return resp
        finally:
            if is_ingest:
                platform = request.get(PLATFORM_KEY, "-")
                gateway.metrics.requests.labels(platform, str(status)).inc()
                gateway.metrics.latency.observe(time.perf_counter() - started)

    return problems_and_metrics


def create_gateway_app(settings: Any = None, *, producer: EventProducer | None = None,
                       clock: Callable[[], float] | None = None,
                       tokens: TokenStore | Mapping[str, Any] | None = None,
                       config: GatewayConfig | None = None, catalog: Catalog | None = None,
                       registry: CollectorRegistry | None = None, topic_lister: Any = _DEFAULT,
                       division_exists: Callable[[str], bool] | None = None,
                       mount_registry: bool = True, insurers: InsurerDirectory | None = None,
                       cap_intake: Any = None, cap_sources: TokenStore | None = None,
                       unit_tokens: TokenStore | None = None) -> web.Application:
    """The gateway app. Nothing connects until the app starts (``on_startup``).

    ``settings``: :class:`gigbridge.settings.Settings` (Kafka connection, ``gateway_*`` fields,
    and the validation rules, through ``streams.context.build_context`` like the worker's; None:
    the environment's);
    ``producer``: default an idempotent acks=all :class:`KafkaEventProducer` from ``settings``
    (the app starts and stops whatever producer it is given); ``clock``: unix seconds, for the
    time rules and the rate limiter (default ``time.time``); ``tokens``: a :class:`TokenStore` or
    a mapping platform -> token sha256 digest(s) (default: from the configuration);
    ``config``: default :meth:`GatewayConfig.from_settings`; ``registry``: Prometheus registry
    (default the process-wide one); ``topic_lister``: for the schema registry's ``/subjects``
    (default: list the broker's topics; None: fixed topics only); ``insurers``: see ``.claims``;
    ``cap_intake``/``cap_sources``: for ``POST /v1/alerts/cap`` (default: from ``settings``,
    :mod:`connectors.gateway.alerts`).
    """
    config = config or GatewayConfig.from_settings(settings)
    if tokens is None:
        store = config.token_store()
    elif isinstance(tokens, TokenStore):
        store = tokens
    else:
        store = TokenStore(tokens)
    if producer is None:
        if settings is None:
            raise ValueError("create_gateway_app needs settings (or an injected producer)")
        producer = KafkaEventProducer.from_settings(settings)
    catalog = catalog or default_catalog()
    gateway = Gateway(config, producer, store, clock or time.time, catalog, metrics_for(registry),
                      division_exists=division_exists, registry_prefix=REGISTRY_PREFIX if mount_registry else None,
                      settings=settings)
    app = web.Application(middlewares=[_middleware(gateway)], client_max_size=config.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_post("/v1/events/{type}", gateway.ingest)
    add_claim_status_route(app, gateway, insurers or InsurerDirectory.from_settings(settings))
    add_unit_case_routes(app, gateway, unit_tokens or unit_token_store(settings))  # POST /v1/units/{unit}/...
    app.router.add_get("/healthz", gateway.healthz)
    app.router.add_get("/readyz", gateway.readyz)
    app.router.add_get("/metrics", gateway.metrics_endpoint)
    app.router.add_get("/openapi.json", gateway.openapi)
    add_alert_routes(app, gateway, settings, intake=cap_intake, sources=cap_sources)  # POST /v1/alerts/cap
    if mount_registry:
        from connectors.registry.api import create_registry_app
        from connectors.registry.topic_lister import KafkaTopicLister

        if topic_lister is _DEFAULT:
            topic_lister = KafkaTopicLister.from_settings(settings) if settings is not None else None
        app.add_subapp(REGISTRY_PREFIX, create_registry_app(catalog, topic_lister=topic_lister))

    async def on_startup(app: web.Application) -> None:
        await gateway.producer.start()
        await asyncio.to_thread(lambda: (gateway.ctx, gateway.units))  # load the tables off the event loop

    async def on_cleanup(app: web.Application) -> None:
        await gateway.producer.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.on_response_prepare.append(_security_headers)
    return app


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    secure(response.headers)
