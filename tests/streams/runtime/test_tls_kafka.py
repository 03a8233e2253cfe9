"""The hub over TLS, against a second local broker with TLS listeners (``up --tls``):

* SASL_SSL + SCRAM: an insured incident produced to a platform topic is validated by the worker
  (running as the ``gigbridge-hub`` SCRAM user with the ACLs of deploy/access.yaml), lands on its
  gov.office topic and reaches the insurer's HTTP endpoint;
* the same with mutual TLS: the worker's certificate (CN=gigbridge-hub) is its identity, so the
  same ACLs apply, and a certificate of an undeclared CN is denied;
* a client that trusts another CA, or presents an expired certificate, fails closed.

One broker (both listeners) for the whole module, on free ports, stopped at the end."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import TopicAuthorizationFailedError

from deploy.kafka.local import KafkaConnection, LocalKafkaCluster
from deploy.kafka.tls import create_ca, issue, local_pki
from gigbridge.kafka_tls import KafkaSecurity, KafkaTlsError
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from gigbridge.topics_admin import TopicAdmin
from streams.core.route import office_topic
from streams.core.topics import ingest_topic
from tests.streams.runtime.test_delivery_kafka import Endpoint, claims_by_key, incident
from tests.support.doc_blocks import parse_blocks
from tests.support.kafka_io import HubProcess, hub_settings, newer_librdkafka_env, onboard, read_all, wait_for

pytestmark = pytest.mark.kafka

CATALOG = default_catalog()
PLATFORM = "swiftmeal"  # declared in deploy/access.yaml: the hub's ACLs cover its topics
HUB_USER = "gigbridge-hub"
SECRET = "insurer-44-test-secret"
REPO = Path(__file__).resolve().parents[3]  # what tests.streams.runtime.test_delivery_kafka.Endpoint verifies


class TlsBroker:
    """The module's broker: admin over SASL_SSL, the hub's SCRAM and certificate identities."""

    def __init__(self, cluster: LocalKafkaCluster, workdir) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.admin = cluster.tls_connection
        pki = local_pki(cluster.pki_dir)
        self.ca = pki.ca
        hub_cert = issue(pki.ca, workdir, "hub", HUB_USER)
        self.hub_scram = KafkaConnection(self.admin.bootstrap, HUB_USER, f"dev-{HUB_USER}-secret",
                                         security_protocol="SASL_SSL", ssl_cafile=str(pki.ca.cert))
        self.hub_mtls = cluster.mtls_connection(hub_cert.cert, hub_cert.key)

    def mtls(self, cn: str, **validity) -> KafkaConnection:
        cert = issue(self.ca, self.workdir, cn, cn, **validity)
        return self.cluster.mtls_connection(cert.cert, cert.key)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls-kafka")
    cluster = LocalKafkaCluster(base / "cluster", tls=True, die_with_parent=True)
    try:
        cluster.start()
        tls = TlsBroker(cluster, base)
        onboard(tls.admin, PLATFORM)  # as the admin, over SASL_SSL
        # Users and ACLs of deploy/access.yaml, by the CLI over SASL_SSL (kafka-python admin client).
        env = {**_env_without_kafka(), **tls.admin.as_env()}
        done = subprocess.run([sys.executable, "-m", "gigbridge.cli", "access", "apply", "--dev"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        yield tls
    finally:
        cluster.stop()
        shutil.rmtree(base / "cluster", ignore_errors=True)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    ep = Endpoint(tmp_path_factory.mktemp("tls-endpoint"))
    yield ep
    ep.stop()


def _env_without_kafka() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("GIGBRIDGE_KAFKA_")}


def run_end_to_end(hub_conn: KafkaConnection, admin: KafkaConnection, endpoint, workdir) -> None:
    """A worker connected with ``hub_conn`` takes one insured incident from the platform topic to
    the office topic and the insurer endpoint."""
    hub = HubProcess(hub_conn, ["worker"], workdir, {
        "GIGBRIDGE_APP_ID": "gigbridge-hub",  # the app id deploy/access.yaml grants the hub
        "GIGBRIDGE_INSURER_ENDPOINTS": json.dumps(
            {"44": {"url": f"http://127.0.0.1:{endpoint.port}/claims", "secret": SECRET}}),
        "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"}).start()
    try:
        wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 3, 90, "worker subscribed")
        event = incident(uuid.uuid4().int % 10**6, platform=PLATFORM)  # insured, province 44
        produce_like_a_platform(admin, ingest_topic(PLATFORM, "incidents"), event["incident_id"].encode(),
                                encode(CATALOG.contract("incident_report").latest, event))
        wait_for(lambda: event["event_id"] in claims_by_key(endpoint), 90, "the claim at the insurer endpoint")
        office = office_topic("440305", "incidents")
        on_office = wait_for(lambda: [r for r in (decode(CATALOG, m.value).record for m in read_all(admin, office))
                                      if r["event_id"] == event["event_id"]], 30, f"the event on {office}")
        assert on_office[0]["incident_id"] == event["incident_id"]
    finally:
        assert hub.stop() == 0, hub.log_tail()


def produce_like_a_platform(conn: KafkaConnection, topic: str, key: bytes, value: bytes) -> None:
    """One record through librdkafka (confluent-kafka), configured by gigbridge.kafka_tls."""
    from confluent_kafka import Producer

    delivered = []
    p = Producer({"bootstrap.servers": conn.bootstrap, **conn.security().rdkafka_config(), "acks": "all"})
    p.produce(topic, value, key, on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(30) == 0 and delivered == [None], delivered


def test_worker_over_sasl_ssl_with_scram(broker, endpoint, tmp_path):
    run_end_to_end(broker.hub_scram, broker.admin, endpoint, tmp_path)


def test_worker_over_mutual_tls(broker, endpoint, tmp_path):
    run_end_to_end(broker.hub_mtls, broker.admin, endpoint, tmp_path)


def test_mtls_principal_is_the_certificate_cn_and_acls_hold(broker):
    topic = ingest_topic(PLATFORM, "incidents")  # the hub's ACLs let it read platform topics

    def end_offset(conn: KafkaConnection) -> int:
        consumer = KafkaConsumer(**conn.kafka_python_config(), enable_auto_commit=False)
        try:
            return consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
        finally:
            consumer.close()

    assert end_offset(broker.hub_mtls) >= 0  # CN=gigbridge-hub is User:gigbridge-hub
    with pytest.raises(TopicAuthorizationFailedError):  # a valid certificate, but no ACLs for its CN
        end_offset(broker.mtls("intruder"))


def test_a_client_trusting_another_ca_fails_closed(broker, tmp_path, caplog):
    other_ca = create_ca(tmp_path, "other-ca", "someone else's CA")
    conn = KafkaConnection(broker.admin.bootstrap, broker.admin.username, broker.admin.password,
                           security_protocol="SASL_SSL", ssl_cafile=str(other_ca.cert))
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError

    async def start() -> None:
        producer = AIOKafkaProducer(**conn.kafka_python_config(), request_timeout_ms=5000)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with caplog.at_level(logging.ERROR), pytest.raises(KafkaConnectionError):
        asyncio.run(start())
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_a_worker_trusting_another_ca_does_not_start(broker, tmp_path):
    other_ca = create_ca(tmp_path, "other-ca", "someone else's CA")
    conn = KafkaConnection(broker.hub_scram.bootstrap, broker.hub_scram.username, broker.hub_scram.password,
                           security_protocol="SASL_SSL", ssl_cafile=str(other_ca.cert))
    hub = HubProcess(conn, ["worker"], tmp_path, {"GIGBRIDGE_APP_ID": "gigbridge-hub"}).start()
    try:
        wait_for(lambda: hub.proc.poll() is not None, 30, "the worker to refuse the broker")
    finally:
        hub.stop()
    assert hub.proc.returncode == 2, hub.log_tail()  # a configuration error, at once
    assert ("configuration error: the broker 127.0.0.1:" in hub.output()
            and "presented a certificate this client does not trust (self-signed certificate in certificate chain); "
                "is GIGBRIDGE_KAFKA_SSL_CAFILE the CA that signed it" in hub.output()), hub.log_tail()


def test_an_expired_client_certificate_is_refused(broker, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    expired = issue(broker.ca, tmp_path, "expired", HUB_USER, not_before=now - dt.timedelta(days=2),
                    not_after=now - dt.timedelta(days=1))
    security = KafkaSecurity(protocol="SSL", cafile=broker.ca.cert, certfile=expired.cert, keyfile=expired.key)
    with pytest.raises(KafkaTlsError, match="expired on"):  # our clients refuse to use it ...
        security.ssl_context()
    port = int(broker.hub_mtls.bootstrap.rsplit(":", 1)[1])
    valid = broker.hub_mtls.security().ssl_context()
    assert api_versions_over_tls(port, valid) is None
    # ... and the broker refuses it from a client that does not check (stdlib context, same files)
    unchecked = ssl.create_default_context(cafile=str(broker.ca.cert))
    unchecked.load_cert_chain(expired.cert, expired.key)
    assert api_versions_over_tls(port, unchecked) is not None


def api_versions_over_tls(port: int, context: ssl.SSLContext) -> str | None:
    """None if the listener answers an ApiVersions request over TLS with ``context``, else why not."""
    body = struct.pack(">hhih", 18, 0, 7, 5) + b"probe"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(struct.pack(">i", len(body)) + body)
            header = tls.recv(10)
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if len(header) < 10:
        return "connection closed by the broker"
    _size, correlation, error = struct.unpack(">iih", header)
    return None if (correlation, error) == (7, 0) else f"correlation {correlation}, error {error}"


@pytest.mark.parametrize("variant", ["SASL_SSL", "SSL"])
def test_kcat_with_the_documented_config_file(broker, tmp_path, variant):
    """docs/operations.md's kcat configuration files, placeholders replaced, read a topic."""
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.fail("kcat is not installed (.ci/run installs the Debian package kcat)")
    [block] = [b for b in parse_blocks(REPO / "docs" / "operations.md")
               if b.lang == "properties" and f"security.protocol={variant}\n" in b.text]
    conn = broker.admin if variant == "SASL_SSL" else broker.cluster.mtls_connection()
    office = office_topic("310101", "sites")
    topics = TopicAdmin(hub_settings(broker.admin))
    try:
        topics.ensure([office])
    finally:
        topics.close()
    key = f"site-{uuid.uuid4().hex[:8]}"
    produce_like_a_platform(broker.admin, office, key.encode(), b"payload")
    text = (block.text.replace("kafka.hub.example:9093", conn.bootstrap)
            .replace("/etc/gigbridge/office-310101.pem", str(conn.ssl_certfile))
            .replace("/etc/gigbridge/office-310101-key.pem", str(conn.ssl_keyfile))
            .replace("/etc/gigbridge/kafka-ca.pem", str(broker.ca.cert))
            .replace("sasl.username=office-310101", f"sasl.username={conn.username}")
            .replace("sasl.password=...", f"sasl.password={conn.password}"))
    assert "/etc/gigbridge" not in text and "hub.example" not in text, text
    config = tmp_path / "kafka.conf"
    config.write_text(text)
    out = subprocess.run([kcat, "-F", str(config), "-C", "-t", office, "-o", "beginning", "-e", "-f", "%k\\n"],
                         capture_output=True, text=True, timeout=60,
                         env={**_env_without_kafka(), **newer_librdkafka_env(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert key in out.stdout.split(), out.stdout + out.stderr
