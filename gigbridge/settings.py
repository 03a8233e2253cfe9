"""Runtime configuration, read from ``GIGBRIDGE_*`` environment variables (and, when running from
a checkout, an optional ``.local/kafka.env`` file written by ``make kafka-up``; see
``gigbridge.paths`` for the defaults of an installed hub).

Every knob the hub has lives here, so ``docker-compose.yml``, the k8s manifests and the README
can be checked against one list (``tests/deploy/test_compose.py`` does that).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gigbridge.kafka_tls import KafkaSecurity
from gigbridge.paths import PRIVACY_POLICY_FILE, env_files, local_state_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


class Endpoint(BaseModel):
    """An HTTP endpoint the hub delivers to (an insurer's claims API, an office webhook)."""

    url: str
    secret: SecretStr  # HMAC-SHA256 key of the X-Gigbridge-Signature header


class Settings(BaseSettings):
    """Hub settings. Construct with ``Settings()``; no I/O happens besides reading env files."""

    model_config = SettingsConfigDict(
        env_prefix="GIGBRIDGE_",
        env_file=env_files(),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- Kafka connection ---------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "SASL_PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_bootstrap_timeout_s: float = Field(
        30.0, gt=0, description="CLI commands and topic administration give up on an unreachable "
        "broker after this long (exit code 3)")
    kafka_ssl_cafile: Path | None = Field(
        None, description="SSL/SASL_SSL: PEM file of the CA(s) that signed the broker certificates "
        "(unset: the system trust store)")
    kafka_ssl_certfile: Path | None = Field(
        None, description="client certificate (PEM, may hold the key too) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="private key (PEM) of kafka_ssl_certfile")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="password of an encrypted private key")
    kafka_ssl_check_hostname: bool = Field(
        True, description="the broker certificate must name the host connected to (SAN)")

    # --- Topics -------------------------------------------------------------------------
    topic_partitions: int = Field(6, ge=1, description="partitions for topics the hub creates")
    office_topic_partitions: int = Field(
        1, ge=1, description="partitions of each gov.office.* topic the hub creates: one office's share "
        "of the traffic fits one partition, and ~8,500 county topics x 6 would put 51,000 partitions on "
        "the cluster (existing topics keep their count)")
    topic_replication_factor: int = Field(1, ge=1)
    topic_discovery_interval_s: float = Field(
        10.0, gt=0, description="how often the worker looks for newly onboarded platform topics"
    )

    # --- Worker -------------------------------------------------------------------------
    app_id: str = "gigbridge-hub"
    data_dir: Path = local_state_dir() / "worker"
    worker_web_port: int = Field(6066, ge=0, le=65535, description="Faust web: /metrics lives here")
    worker_web_host: str = "127.0.0.1"
    ingest_batch_size: int = Field(
        2000, ge=1, description="most ingest records per validation batch (a batch returns as soon as any "
        "records are there: at moderate rates batches are small; large ones amortise what every batch "
        "pays per output partition, see docs/performance.md)")
    stream_batch_size: int = Field(500, ge=1, description="most records per delivery-agent batch (HTTP sinks)")
    stream_batch_timeout_s: float = Field(
        0.05, gt=0, description="longest wait for the first record of a batch (a batch never waits to fill up)")
    stream_pipeline_depth: int = Field(
        2, ge=1, description="ingest batches in flight: the next is planned while the last is acknowledged")
    ingest_fetch_max_bytes: int = Field(
        4 * 1024 * 1024, ge=64 * 1024, description="ingest consumer: bytes per fetch response (aiokafka's "
        "default 50 MiB is buffered in the worker while it lags: memory grows with the lag, not the work)")
    ingest_fetch_min_bytes: int = Field(
        256 * 1024, ge=1, description="ingest consumer: the broker holds a fetch until this many bytes "
        "are there or ingest_fetch_max_wait_ms passed (with 1 byte, a consumer fetches a few records "
        "at a time, and the fetch round trips cost the worker and the broker more than the records)")
    ingest_fetch_max_wait_ms: int = Field(
        10, ge=0, le=500, description="ingest consumer: longest the broker holds a fetch for more bytes")
    producer_linger_ms: int = Field(2, ge=0, description="output producer: wait this long to fill a request")
    gc_gen0_threshold: int = Field(
        50_000, ge=0, description="worker: allocations between young-generation garbage collections "
        "(Python's default 700 promotes a whole batch's objects to the old generations, whose full "
        "collections then dominate); 0 keeps Python's default. Start-up objects are frozen either way")
    heap_trim_interval_s: float = Field(
        10.0, ge=0, description="worker: give the C heap's free pages back to the OS this often (glibc's "
        "malloc_trim; RocksDB's memory churn otherwise grows RSS by ~2 MB a minute with flat use); 0: never")
    producer_batch_bytes: int = Field(256 * 1024, ge=1024, description="output producer: bytes per partition batch")
    dedupe_window_s: float = Field(24 * 3600, gt=0, description="repeats of an event_id inside it are dropped")
    dedupe_log_interval_ms: int = Field(
        100, ge=0, le=5000, description="the dedupe log is written at most once per interval for every batch "
        "acknowledged meanwhile (group commit); offsets are committed after it, so a crash re-reads up to "
        "this much more (0: as soon as the previous write returns)")
    cover_grace_s: float = Field(2 * 3600, ge=0, description="cover stage: a worker-day closes this long after "
                                 "24:00 CST; insured incidents wait as long for their order (issue 20)")
    cover_close_interval_s: float = Field(10.0, gt=0, description="cover stage: how often closed days are emitted")
    cover_retention_days: float = Field(
        100, gt=90, description="cover stage: emitted worker-days, statements and their order_refs are forgotten "
        "this long after their day (over the 90 days validation accepts, so a late order still amends its day)")
    cover_prune_interval_s: float = Field(86_400, gt=0, description="cover stage: how often the state is pruned "
                                          "(also at the first close tick after start)")
    max_future_skew_s: float = Field(300, ge=0)
    max_event_age_days: float = Field(90, gt=0)
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    stats_interval_s: float = Field(1.0, gt=0, description="period of the 'counts' log line")
    claims_overdue_scan_interval_s: float = Field(
        60.0, gt=0, description="worker: how often open claims are checked against their determination deadline")
    # --- weather notices and algorithm-rule changes (streams/runtime/notices, docs/notices.md) --
    notice_overdue_after_s: float = Field(7200.0, gt=0, description="ORANGE/RED notice unanswered this long: overdue")
    notice_check_interval_s: float = Field(30.0, gt=0, description="period of the overdue check")
    algorithm_notice_period_days: float = Field(7.0, ge=0, description="min. days from published_at to effective_at")

    # --- Routing and privacy -------------------------------------------------------------
    office_level: Literal["county", "township"] = Field(
        "county", description="division level of gov.office.<code>.<type> topics")
    office_level_overrides: dict[str, Literal["county", "township"]] = Field(
        default_factory=dict, description='per-region level, e.g. {"3101": "township"} (JSON)')
    emit_validated: bool = Field(True, description="also write every valid event to hub.validated.<type>")
    privacy_master_secret: SecretStr | None = Field(
        None, description="derives each destination's HMAC key for re-keyed worker/order refs")
    privacy_policy_file: Path = PRIVACY_POLICY_FILE

    # --- HTTP sinks ---------------------------------------------------------------------
    insurer_endpoints: dict[str, Endpoint] = Field(
        default_factory=dict,
        description='province code -> endpoint, e.g. {"44": {"url": "https://...", "secret": "..."}} (JSON)')
    office_webhooks: dict[str, Endpoint] = Field(
        default_factory=dict, description="office code (as in gov.office.<code>.*) -> endpoint (JSON)")
    platform_notice_webhooks: dict[str, Endpoint] = Field(
        default_factory=dict, description="platform id -> endpoint receiving the WeatherNotice records that "
        "concern the platform (JSON, docs/notices.md)")
    sink_base_backoff_s: float = Field(0.5, gt=0, description="first retry delay of an HTTP sink (full jitter)")
    sink_max_backoff_s: float = Field(60.0, gt=0, description="cap of the exponential retry delay")
    sink_timeout_s: float = Field(10.0, gt=0, description="total timeout of one HTTP request")

    # --- HTTP ingest gateway and schema registry (connectors/gateway, connectors/registry) --
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8080, ge=0, le=65535)
    gateway_tokens: SecretStr | None = Field(
        None, description='platform id -> SHA-256 hex digest of its bearer token (or a list), JSON')
    gateway_tokens_file: Path | None = Field(None, description="the same JSON in a file")
    gateway_insurers: SecretStr | None = Field(
        None, description='insurer name (deploy/access.yaml) -> {"token_sha256": ..., "signing_secret": ...}, JSON')
    gateway_cap_source_tokens: SecretStr | None = Field(
        None, description="weather source -> SHA-256 digest(s) of its token for POST /v1/alerts/cap, JSON")
    case_unit_tokens: SecretStr | None = Field(
        None, description='unit id -> SHA-256 hex digest of its bearer token (or a list), JSON: the worker\'s '
                          '/v1/cases look-ups (platforms use their gateway tokens)')
    gateway_max_body_bytes: int = Field(1_048_576, ge=1, description="413 above this (decompressed) size")
    gateway_max_events: int = Field(1000, ge=1, description="413 above this many events per request")
    gateway_rate_events_per_s: float = Field(200.0, gt=0, description="per-platform token bucket refill")
    gateway_rate_burst: int = Field(2000, ge=1, description="per-platform bucket size (>= max_events)")
    gateway_max_inflight: int = Field(8, ge=1, description="concurrent requests per platform (429 above)")
    gateway_produce_timeout_s: float = Field(10.0, gt=0, description="all acks of a request within this")
    gateway_body_timeout_s: float = Field(30.0, gt=0, description="408 when the whole body takes longer")
    gateway_keepalive_timeout_s: float = Field(
        15.0, gt=0, description="a connection without complete request headers (slow-loris) or idle this long "
                                "after connecting or after its last response is closed")
    gateway_lingering_time_s: float = Field(2.0, ge=0, description="at most this long draining an unread body")
    gateway_max_connections: int = Field(
        512, ge=1, description="open connections; over it the oldest connection without a request in progress is "
                               "closed (503 too-many-connections for the new one if none can be)")
    gateway_unavailable_retry_after_s: int = Field(5, ge=1, description="Retry-After of a 503")
    registry_host: str = "127.0.0.1"
    registry_port: int = Field(8081, ge=0, le=65535, description="standalone `gigbridge registry` port")

    # --- Simulator ----------------------------------------------------------------------
    sim_platforms: int = Field(3, ge=1)
    sim_rate: float = Field(50.0, ge=0, description="events/s; 0 = as fast as possible")
    sim_invalid_share: float = Field(0.05, ge=0, le=1)
    sim_seed: int = 42

    # --- Office console read model (connectors/console_feed) ------------------------------
    console_stale_after_s: float = Field(
        15.0, gt=0, description="the console's banner says lagging/unreachable when its view is older than this")
    console_max_incidents: int = Field(50_000, ge=1, description="incidents the console keeps (first received leave)")

    @cached_property
    def kafka_security(self) -> KafkaSecurity:
        """Protocol, SASL credentials and TLS files of the Kafka connection (``gigbridge.kafka_tls``)."""
        return KafkaSecurity(
            protocol=self.kafka_security_protocol, username=self.kafka_username,
            password=self.kafka_password.get_secret_value() if self.kafka_password else None,
            mechanism=self.kafka_sasl_mechanism, cafile=self.kafka_ssl_cafile,
            certfile=self.kafka_ssl_certfile, keyfile=self.kafka_ssl_keyfile,
            key_password=self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else None,
            check_hostname=self.kafka_ssl_check_hostname)

    @cached_property
    def kafka_ssl_context(self):
        """The one TLS context every client of these settings shares (``None`` without TLS).
        Raises ``gigbridge.kafka_tls.KafkaTlsError`` on unusable TLS files."""
        return self.kafka_security.ssl_context()

    @cached_property
    def kafka_python_config(self) -> dict:
        """Keyword arguments for kafka-python clients (admin, producer, consumer)."""
        return {"bootstrap_servers": self.kafka_bootstrap.split(","),
                **self.kafka_security.client_config(self.kafka_ssl_context)}

    @cached_property
    def aiokafka_config(self) -> dict:
        """Keyword arguments for aiokafka clients (same names as kafka-python, minus list form)."""
        cfg = dict(self.kafka_python_config)
        cfg["bootstrap_servers"] = self.kafka_bootstrap
        return cfg
