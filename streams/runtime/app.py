"""The Faust application: the worker's runtime (lifecycle, signals, web pages, timers, tasks).

Delivery guarantee: at-least-once (Faust's ``exactly_once`` is not used, see README). The
high-volume streams (validation, HTTP delivery) run on the batch loop (``streams.runtime``),
not on Faust agents; Faust agents and tables are for the low-volume stateful workflow streams.
"""

from __future__ import annotations

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gigbridge.settings import Settings
from streams.runtime.faust_rewind import rewind_uncommitted_partitions
from streams.runtime.health import WorkerHealth


def create_app(settings: Settings, health: WorkerHealth | None = None) -> faust.App:
    """Build (but do not start) the Faust app for the hub's stream workers; with ``health``
    it also serves ``/healthz`` (liveness) and ``/readyz`` (readiness), see ``streams.runtime.health``."""
    # SASL and/or TLS through Faust's public credential classes, with the TLS context every
    # other client of these settings uses (gigbridge.kafka_tls).
    credentials = settings.kafka_security.faust_credentials(settings.kafka_ssl_context)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=credentials,
        # Faust tables (the low-volume workflow state: claims, concern cases) live in RocksDB under
        # datadir (Faust's rocksdb store drives rocksdict), restored from their changelog topics;
        # the dedupe and cover state are streams.runtime.dedupe and streams.runtime.cover_state.
        store="rocksdb://",
        datadir=str(settings.data_dir),
        processing_guarantee="at_least_once",
        # As the batch loops' consumers (aiokafka's 10 s): a worker killed with -9 keeps its Faust
        # partitions (the claims and cases tables) until its session expires; with Faust's default
        # 60 s, a restarted worker waited a minute or more before it applied a case step again.
        broker_session_timeout=10.0,
        producer_acks=-1,
        # Faust's default is 20 minutes, also the expiry of a batch that aiokafka keeps retrying
        # (it can stall on NotLeaderForPartition for a just-created topic, aiokafka#1018).
        # Expired sends fail, and the Writer re-sends them: a stall lasts 30 s, not 20 min.
        producer_request_timeout=30.0,
        producer_linger_ms=5,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        # pattern agents (streams.runtime.notices) see a new platform's topics this soon
        consumer_metadata_max_age_ms=int(settings.topic_discovery_interval_s * 1000),
        web_enabled=True,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        web_in_thread=False,
        # A worker leaving (or a partition revoked) waits for the event an agent is applying: Faust
        # acknowledges an event whose agent is cancelled, so the owner's step in flight was
        # committed unapplied (the case ledger, docs/cases.md "Faust rebalance: records re-read").
        stream_wait_empty=True,
        autodiscover=False,
    )
    rewind_uncommitted_partitions(app)  # records dropped in a rebalance are read again (faust_rewind)
    @app.page("/metrics")
    async def metrics(web, request):  # noqa: ARG001 - Faust page signature
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    if health is not None:
        @app.page("/healthz")
        async def healthz(web, request):  # noqa: ARG001 - Faust page signature
            ok, doc = health.liveness()
            return web.json(doc, status=200 if ok else 503)

        @app.page("/readyz")
        async def readyz(web, request):  # noqa: ARG001 - Faust page signature
            ok, doc = health.readiness()
            return web.json(doc, status=200 if ok else 503)

    return app
