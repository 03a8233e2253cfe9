"""``GET /metrics`` for the standalone registry (``gigbridge registry``): requests by HTTP
status, so Prometheus can scrape it like the worker and the gateway.  (Mounted under the
gateway at ``/registry``, the registry is served by the gateway's process and /metrics.)"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest

_BY_REGISTRY: dict[int, tuple[CollectorRegistry, Counter]] = {}


def requests_counter(registry: CollectorRegistry) -> Counter:
    """``gigbridge_registry_requests_total{status}`` in ``registry``, created once per registry
    (the registry is kept with it: a new registry may reuse a collected one's id)."""
    known = _BY_REGISTRY.get(id(registry))
    if known is None or known[0] is not registry:
        known = _BY_REGISTRY[id(registry)] = (registry, Counter(
            "gigbridge_registry_requests_total", "Schema registry requests by HTTP status", ["status"],
            registry=registry))
    return known[1]


def instrument(app: web.Application, registry: CollectorRegistry | None = None) -> None:
    """Count every response of ``app`` (outermost middleware: after the registry's own error
    handling turned failures into responses) and serve the registry's metrics at ``/metrics``.
    Call before the app starts."""
    registry = registry if registry is not None else REGISTRY
    counter = requests_counter(registry)

    @web.middleware
    async def count(request: web.Request, handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            counter.labels(str(exc.status)).inc()
            raise
        counter.labels(str(response.status)).inc()
        return response

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.middlewares.insert(0, count)
    app.router.add_get("/metrics", metrics)
