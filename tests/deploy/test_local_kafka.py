"""Real-broker tests for deploy/kafka/local.py (no mocks).

Tests taking ``kafka`` run against the session broker from tests/conftest.py (or an external one
named by GIGBRIDGE_KAFKA_BOOTSTRAP).  Tests that stop, restart or kill nodes start their own
clusters in a temp directory on free ports.  Every wait is a poll with a deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TypeVar

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from deploy.kafka.local import KafkaConnection, LocalKafkaCluster

pytestmark = pytest.mark.kafka

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float, what: str) -> T:
    """Call ``probe`` until it returns a truthy value (exceptions count as "not yet")."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(0.2)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin(conn: KafkaConnection, **overrides) -> KafkaAdminClient:
    return KafkaAdminClient(**{**conn.kafka_python_config(), "bootstrap_timeout_ms": 10000, **overrides})


def produce(conn: KafkaConnection, topic: str, value: bytes, partition: int | None = None,
            timeout: float = 30):
    with closing(KafkaProducer(**conn.kafka_python_config(), acks="all", max_block_ms=10000)) as producer:
        return producer.send(topic, value, partition=partition).get(timeout=timeout)


def read_partition(conn: KafkaConnection, topic: str, partition: int, count: int,
                   timeout: float = 30) -> list[bytes]:
    """The first ``count`` values of one partition (no consumer group)."""
    consumer = KafkaConsumer(**conn.kafka_python_config(), enable_auto_commit=False,
                             auto_offset_reset="earliest")
    values: list[bytes] = []
    with closing(consumer):
        consumer.assign([TopicPartition(topic, partition)])
        consumer.seek_to_beginning()

        def more() -> bool:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
            return len(values) >= count

        wait_until(more, timeout, f"{count} record(s) in {topic}[{partition}]")
    return values[:count]


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    """A private single-node cluster that tests may stop and restart."""
    base = tmp_path_factory.mktemp("own-kafka")
    cluster = LocalKafkaCluster(base, n_brokers=1, die_with_parent=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# (a) the SCRAM admin can do everything
# ---------------------------------------------------------------------------------------------

def test_admin_creates_topic_produces_and_consumes(kafka: KafkaConnection) -> None:
    topic, group = unique("smoke"), unique("smoke-group")
    with closing(admin(kafka)) as adm:
        adm.create_topics({topic: {"num_partitions": 1}}, wait_for_metadata=True)
        try:
            meta = produce(kafka, topic, b"hello gigbridge")
            assert (meta.topic, meta.partition, meta.offset) == (topic, 0, 0)

            consumer = KafkaConsumer(topic, **kafka.kafka_python_config(), group_id=group,
                                     auto_offset_reset="earliest", enable_auto_commit=False)
            with closing(consumer):
                received: list[bytes] = []

                def got_it() -> bool:
                    for records in consumer.poll(timeout_ms=500).values():
                        received.extend(r.value for r in records)
                    return bool(received)

                wait_until(got_it, 60, "the produced record via a consumer group")
                consumer.commit()
            assert received == [b"hello gigbridge"]
        finally:
            adm.delete_topics([topic])
            adm.delete_groups([group])


# ---------------------------------------------------------------------------------------------
# (b) authentication is enforced
# ---------------------------------------------------------------------------------------------

def test_wrong_password_and_unauthenticated_clients_are_rejected(
        kafka: KafkaConnection, caplog: pytest.LogCaptureFixture) -> None:
    wrong = KafkaConnection(kafka.bootstrap, kafka.username, kafka.password + "-wrong")
    # kafka-python 3.0.12 sees the broker close the connection after the failed SCRAM exchange and
    # keeps retrying, so the failure surfaces as a bootstrap timeout.
    with pytest.raises(KafkaError):
        admin(wrong, bootstrap_timeout_ms=3000).close()
    # Not authenticating at all (PLAINTEXT against the SASL listener) gets nowhere either; in
    # particular nobody can act as User:ANONYMOUS.
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=kafka.bootstrap, bootstrap_timeout_ms=3000).close()

    # aiokafka reports the broker's actual verdict: error 58, SaslAuthenticationFailed.
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError

    async def aiokafka_attempt(conn: KafkaConnection) -> None:
        producer = AIOKafkaProducer(**conn.kafka_python_config(), request_timeout_ms=5000)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        asyncio.run(aiokafka_attempt(wrong))
    assert "SaslAuthenticationFailed" in caplog.text

    # Control: the very same settings with the right password work.
    asyncio.run(aiokafka_attempt(kafka))
    with closing(admin(kafka)) as adm:
        assert adm.describe_cluster()["brokers"]


# ---------------------------------------------------------------------------------------------
# (c) authorization: a user without ACLs is denied until an ACL is granted
# ---------------------------------------------------------------------------------------------

def test_user_without_acls_is_denied_until_granted(kafka: KafkaConnection) -> None:
    topic, user, password = unique("acl"), unique("svc"), uuid.uuid4().hex
    user_conn = KafkaConnection(kafka.bootstrap, user, password)
    principal = f"User:{user}"
    topic_pattern = ResourcePattern(ResourceType.TOPIC, topic, ACLResourcePatternType.LITERAL)
    with closing(admin(kafka)) as adm:
        adm.create_topics({topic: {"num_partitions": 1}}, wait_for_metadata=True)
        result = adm.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(user, "SCRAM-SHA-512", password)])
        assert result == {user: None}
        try:
            # Authenticates fine (the credential propagates through the metadata log) ...
            user_admin = wait_until(lambda: admin(user_conn, bootstrap_timeout_ms=3000), 30,
                                    "the new SCRAM user to authenticate")
            with closing(user_admin):
                # ... but may neither see nor write the topic.
                [described] = user_admin.describe_topics([topic])
                assert described["error_code"] == TopicAuthorizationFailedError.errno
                with pytest.raises(TopicAuthorizationFailedError):
                    produce(user_conn, topic, b"denied", timeout=15)

                granted = adm.create_acls([
                    ACL(principal, "*", operation, ACLPermissionType.ALLOW, topic_pattern)
                    for operation in (ACLOperation.WRITE, ACLOperation.DESCRIBE)])
                assert granted["failed"] == []

                wait_until(lambda: user_admin.describe_topics([topic])[0]["error_code"] == 0, 30,
                           "DESCRIBE to be granted")
                meta = wait_until(lambda: produce(user_conn, topic, b"allowed", timeout=10), 30,
                                  "WRITE to be granted")
                assert meta.offset == 0
        finally:
            adm.delete_acls([ACLFilter(principal, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                       ResourcePatternFilter(ResourceType.TOPIC, topic,
                                                             ACLResourcePatternType.LITERAL))])
            adm.alter_user_scram_credentials([UserScramCredentialDeletion(user, "SCRAM-SHA-512")])
            adm.delete_topics([topic])


# ---------------------------------------------------------------------------------------------
# (d) every listener, in particular the controller one, is bound to loopback only
# ---------------------------------------------------------------------------------------------

def _listening_sockets(pid: int) -> set[tuple[str, int]]:
    """(ip, port) of the TCP sockets in LISTEN state owned by ``pid`` (Linux /proc).

    The JVM binds IPv4 addresses through dual-stack sockets, which /proc shows in ``tcp6`` as
    v4-mapped ``::ffff:127.0.0.1``; those are reported as plain IPv4."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table, v6 in (("tcp", False), ("tcp6", True)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = TCP_LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            # /proc prints each 32-bit word of the address in host (little-endian) byte order.
            raw = b"".join(bytes.fromhex(hex_ip[i:i + 8])[::-1] for i in range(0, len(hex_ip), 8))
            ip = ipaddress.ip_address(raw)
            if v6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            found.add((str(ip), int(hex_port, 16)))
    return found


def test_controller_listener_is_loopback_only(own_cluster: LocalKafkaCluster) -> None:
    props = dict(line.split("=", 1) for line in
                 (own_cluster.broker_dir(0) / "server.properties").read_text().splitlines()
                 if line and not line.startswith("#"))
    controller_port = own_cluster.controller_ports[0]
    client_port = own_cluster.client_ports[0]
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listeners"] == f"CLIENT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{controller_port}"
    assert "CONTROLLER:SASL_PLAINTEXT" in props["listener.security.protocol.map"]
    assert "ANONYMOUS" not in props["super.users"]

    if not Path("/proc/self/net/tcp").exists():
        pytest.skip("socket check needs Linux /proc")
    pid = own_cluster.pid(0)
    assert pid is not None
    listening = _listening_sockets(pid)
    assert ("127.0.0.1", controller_port) in listening
    assert ("127.0.0.1", client_port) in listening
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, f"non-loopback listeners: {listening}"


# ---------------------------------------------------------------------------------------------
# (e) stop + start keeps data
# ---------------------------------------------------------------------------------------------

def test_restart_keeps_topics_and_messages(own_cluster: LocalKafkaCluster) -> None:
    conn = own_cluster.connection
    topic = unique("persist")
    with closing(admin(conn)) as adm:
        adm.create_topics({topic: {"num_partitions": 1}}, wait_for_metadata=True)
        cluster_id = adm.describe_cluster()["cluster_id"]
    produce(conn, topic, b"survives a restart")
    meta_before = (own_cluster.broker_dir(0) / "data" / "meta.properties").read_text()

    own_cluster.stop()
    assert own_cluster.running() == []
    assert not own_cluster.is_ready(timeout=1)

    assert own_cluster.start() == conn
    assert (own_cluster.broker_dir(0) / "data" / "meta.properties").read_text() == meta_before
    with closing(admin(conn)) as adm:
        assert adm.describe_cluster()["cluster_id"] == cluster_id
        assert topic in adm.list_topics()
    assert read_partition(conn, topic, 0, 1) == [b"survives a restart"]


# ---------------------------------------------------------------------------------------------
# (f) three nodes: acks=all keeps working with one node killed
# ---------------------------------------------------------------------------------------------

def test_three_node_cluster_tolerates_a_killed_broker(tmp_path: Path) -> None:
    cluster = LocalKafkaCluster(tmp_path / "kafka3", n_brokers=3, die_with_parent=True)
    try:
        conn = cluster.start(timeout=120)
        topic = unique("replicated")
        with closing(admin(conn)) as adm:
            assert sorted(b["broker_id"] for b in adm.describe_cluster()["brokers"]) == [0, 1, 2]
            adm.create_topics({topic: {"num_partitions": 3, "replication_factor": 3,
                                       "configs": {"min.insync.replicas": "2"}}},
                              wait_for_metadata=True)

            def described() -> list[dict] | None:
                parts = adm.describe_topics([topic])[0]["partitions"]
                whole = len(parts) == 3 and all(len(q["replica_nodes"]) == 3 and q["leader_id"] >= 0 for q in parts)
                return parts if whole else None

            # The node that answers may not list a just-created topic's partitions yet (CI saw an
            # empty list, which an all() over it let through): wait for all three, replicated, led.
            partitions = wait_until(described, 30, f"3 partitions of {topic}, 3 replicas each, with leaders")
            victim = next(p["leader_id"] for p in partitions if p["partition_index"] == 0)

            for p in range(3):
                produce(conn, topic, f"before-{p}".encode(), partition=p)

            cluster.kill_broker(victim)
            assert sorted(cluster.running()) == sorted({0, 1, 2} - {victim})

            # Every partition, including the one the victim led, accepts acks=all writes with the
            # two surviving in-sync replicas (after the controller fences the dead node).
            for p in range(3):
                meta = produce(conn, topic, f"after-{p}".encode(), partition=p, timeout=60)
                assert meta.offset == 1

            def isr_shrunk() -> bool:
                parts = adm.describe_topics([topic])[0]["partitions"]
                return all(victim not in q["isr_nodes"] and len(q["isr_nodes"]) == 2 for q in parts)

            wait_until(isr_shrunk, 30, "the killed broker to leave every ISR")

            cluster.start_broker(victim)
            assert sorted(cluster.running()) == [0, 1, 2]
            assert read_partition(conn, topic, 0, 2) == [b"before-0", b"after-0"]
    finally:
        cluster.stop()
    assert cluster.running() == []
