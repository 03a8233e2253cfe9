"""Shared helpers of the gateway and registry tests: a gateway on a real loopback port (the
same aiohttp server limits as ``serve``), a server in a background thread (for synchronous
clients: confluent-kafka, schemathesis), platform tokens, example events."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from connectors.gateway import (
    GATEWAY,
    Gateway,
    GatewayConfig,
    KafkaEventProducer,
    TokenStore,
    create_gateway_app,
    setup_runner,
)
from gigbridge.settings import Settings
from schemas.examples import REFERENCE_NOW_MS, load_examples
from tests.support.kafka_io import free_port

# ghostline has a token but no topics on the broker (never onboarded)
TOKENS = {"swiftdash": "tok-swiftdash-6a1f0c2e9b", "cityride": "tok-cityride-1d4b7e0a33",
          "ghostline": "tok-ghostline-77c2d91e05"}
CONTRACT_OF = {"sites": "site_event", "headcounts": "headcount_report", "incidents": "incident_report",
               "orders": "order_cover"}
TYPE_OF = {v: k for k, v in CONTRACT_OF.items()}
TIME_FIELDS = ("occurred_at", "reported_at", "period_start", "period_end")


def auth(platform: str = "swiftdash", tokens: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {(tokens or TOKENS)[platform]}"}


def tokens_for(*platforms: str) -> dict[str, str]:
    """Clear tokens for platforms of one test run (unique ids on a shared broker)."""
    return {p: f"tok-{p}-{uuid.uuid4().hex}" for p in platforms}


class Clock:
    """Settable unix-seconds clock; starts at the examples' reference time."""

    def __init__(self, start: float = REFERENCE_NOW_MS / 1000) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def dead_producer() -> KafkaEventProducer:
    """A real producer pointed at a port nobody listens on: it never connects."""
    return KafkaEventProducer({"bootstrap_servers": f"127.0.0.1:{free_port()}"}, retry_backoff_s=(0.5, 2.0))


def kafka_settings(kafka) -> Settings:
    return Settings(kafka_bootstrap=kafka.bootstrap, kafka_username=kafka.username, kafka_password=kafka.password,
                    kafka_security_protocol=kafka.security_protocol, kafka_sasl_mechanism=kafka.sasl_mechanism)


def platform_topics(platform: str) -> list[str]:
    """What ``gigbridge topics ensure --platform`` creates: the ingest topics AND
    ``platform.<id>.rejected`` (a worker sharing the broker writes rejections there)."""
    from streams.core.topics import ingest_topic, rejected_topic
    from streams.core.validate import EVENT_TYPES

    return [*(ingest_topic(platform, e) for e in EVENT_TYPES), rejected_topic(platform)]


@contextlib.contextmanager
def onboarded(kafka, platforms: list[str], partitions: int = 3) -> Iterator[None]:
    """Create the platforms' topics for a test module and DELETE them afterwards, so the hub
    worker tests sharing the session broker do not find (and process) this module's data."""
    from kafka import KafkaAdminClient

    from gigbridge.topics_admin import TopicAdmin

    topics = [t for p in platforms for t in platform_topics(p)]
    admin = TopicAdmin(kafka_settings(kafka))
    try:
        admin.ensure(topics, partitions=partitions)
    finally:
        admin.close()
    try:
        yield
    finally:
        client = KafkaAdminClient(**kafka.kafka_python_config())
        try:
            client.delete_topics(topics, timeout_ms=30_000)
        finally:
            client.close()


def examples(event_type: str, platform: str = "swiftdash") -> list[dict]:
    """Fresh copies of the valid example payloads of ``event_type``, moved to ``platform``, each
    with a new ``event_id`` (the examples share ids; tests find their records by id)."""
    out = []
    for ex in load_examples(contract=CONTRACT_OF[event_type], kind="valid"):
        payload = copy.deepcopy(ex.payload)
        payload["platform_id"] = platform
        payload["event_id"] = str(uuid.uuid4())
        out.append(payload)
    return out


@dataclass(frozen=True)
class Invalid:
    name: str
    payload: Any
    reason: str
    field: str | None


def invalid_examples(event_type: str, platform: str = "swiftdash") -> list[Invalid]:
    """The invalid examples of ``event_type`` (payload moved to ``platform`` unless the platform
    id is the broken field) with the reason and field the hub must report."""
    out = []
    for ex in load_examples(contract=CONTRACT_OF[event_type], kind="invalid"):
        payload = copy.deepcopy(ex.payload)
        if ex.reason != "invalid_platform_id" and isinstance(payload, dict) and "platform_id" in payload:
            payload["platform_id"] = platform
        if ex.reason != "invalid_event_id" and isinstance(payload, dict) and isinstance(payload.get("event_id"), str):
            payload["event_id"] = str(uuid.uuid4())
        out.append(Invalid(ex.name, payload, ex.reason, ex.field))
    return out


def with_unknown_division(events: list[dict]) -> list[dict]:
    """Copies that every validation run rejects (``unknown_division_code``): no Kafka needed."""
    out = copy.deepcopy(events)
    for e in out:
        e["division_code"] = "999999000000"
    return out



PROBLEM = "https://gigbridge.example/problems/"


async def problem(resp: aiohttp.ClientResponse, status: int, slug: str) -> dict:
    """The body of ``resp``, checked to be the RFC 9457 problem ``slug`` with ``status``."""
    body = await resp.json(content_type=None)
    assert resp.status == status, body
    assert resp.content_type == "application/problem+json"
    assert body["type"] == PROBLEM + slug
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["instance"] == resp.url.path
    return body


class RecordingProducer:
    """A producer that keeps what it is given: (topic, [(key, value)], [headers]) per batch; with
    ``error``, raises it instead (a broker that does not acknowledge)."""

    ready = True

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, list, list]] = []
        self.error = error

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_batch(self, topic, records, timeout_s, *, headers=()) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((topic, list(records), list(headers)))


async def slow_body_status_line(port: int, path: str, token: str) -> bytes:
    """The answer's head to a POST whose body never completes (500 bytes declared, 2 sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n[{").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    return head


@dataclass
class RunningGateway:
    url: str
    session: aiohttp.ClientSession
    app: web.Application
    tokens: dict[str, str]

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def post(self, event_type: str, events: Any = None, *, platform: str | None = "swiftdash",
                   data: Any = None, content_type: str | None = "application/json",
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        hdrs = dict(auth(platform, self.tokens)) if platform else {}
        if content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        if data is None and events is not None:
            import json

            data = json.dumps(events)
        return await self.session.post(f"{self.url}/v1/events/{event_type}", data=data, headers=hdrs)


@contextlib.asynccontextmanager
async def running_gateway(*, producer: Any = None, clock: Callable[[], float] | None = None,
                          config: GatewayConfig | None = None, settings: Any = None,
                          tokens: dict[str, str] | None = None, **kwargs: Any) -> AsyncIterator[RunningGateway]:
    """A gateway app on a free loopback port, served with :func:`setup_runner` like ``serve``.
    ``tokens``: clear platform tokens (default :data:`TOKENS`)."""
    config = config or GatewayConfig()
    tokens = tokens or TOKENS
    kwargs.setdefault("topic_lister", None)
    app = create_gateway_app(settings, producer=producer or dead_producer(), clock=clock or Clock(),
                             tokens=TokenStore.from_tokens(tokens), config=config, registry=CollectorRegistry(),
                             **kwargs)
    runner = await setup_runner(app, config)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as session:
            yield RunningGateway(f"http://127.0.0.1:{port}", session, app, tokens)
    finally:
        await runner.cleanup()


class ServerThread:
    """Serve an aiohttp app (built inside the thread by ``factory``) on a free loopback port in
    a background thread with its own event loop."""

    def __init__(self, factory: Callable[[], web.Application], **runner_kw: Any) -> None:
        self._factory = factory
        self._runner_kw = runner_kw
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.app: web.Application | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="test-http-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

        async def start() -> None:
            self.app = self._factory()
            self._runner = web.AppRunner(self.app, **self._runner_kw)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        try:
            loop.run_until_complete(start())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop and return its result (for inspecting app state)."""
        async def wrapper() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)  # type: ignore[arg-type]

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


async def wait_until(condition: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
