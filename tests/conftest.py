"""Shared pytest fixtures.

``kafka`` (session scope) yields a :class:`deploy.kafka.local.KafkaConnection` for the SCRAM admin:

* if ``GIGBRIDGE_KAFKA_BOOTSTRAP`` is set (e.g. ``set -a; . .local/kafka.env; set +a`` after
  ``make kafka-up``), that cluster is used as-is, with ``GIGBRIDGE_KAFKA_USERNAME``/``_PASSWORD``;
* otherwise one single-node broker is started for the whole session in
  ``.local/test-kafka-<pid>`` on free loopback ports (so it never collides with a developer's
  ``make kafka-up`` broker on 19092), then stopped and deleted at the end.  Its JVM also dies with
  the pytest process if that is killed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from deploy.kafka.local import KafkaConnection, LocalKafkaCluster  # noqa: E402


def _remove_stale_test_clusters(local_dir: Path) -> None:
    """Stop and delete ``test-kafka-<pid>`` dirs left behind by pytest runs that no longer exist."""
    for stale in local_dir.glob("test-kafka-*"):
        pid = stale.name.removeprefix("test-kafka-")
        if not pid.isdigit() or Path(f"/proc/{pid}").exists() or int(pid) == os.getpid():
            continue
        try:
            LocalKafkaCluster.from_dir(stale).stop(timeout=10)
        except Exception:  # noqa: BLE001 - best-effort cleanup of someone else's leftovers
            continue
        shutil.rmtree(stale, ignore_errors=True)


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory) -> Iterator[KafkaConnection]:
    """A broker for one test module alone (a module-level ``kafka`` fixture returns it), for
    tests of flows that read the hub's shared topics (every platform's ingest, ``hub.validated.*``)
    from the beginning: on the session broker they would first catch up with everything the
    earlier tests wrote, and count it."""
    if KafkaConnection.from_env() is not None:
        pytest.skip("an external broker is shared; this module needs a broker of its own")
    cluster = LocalKafkaCluster(tmp_path_factory.mktemp("own-kafka"), n_brokers=1, die_with_parent=True)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaConnection]:
    """Admin connection to a real Kafka (external via env, or a session-local broker)."""
    external = KafkaConnection.from_env()
    if external is not None:
        yield external
        return
    local_dir = REPO_ROOT / ".local"
    if Path("/proc/self").exists():
        _remove_stale_test_clusters(local_dir)
    base_dir = local_dir / f"test-kafka-{os.getpid()}"
    cluster = LocalKafkaCluster(base_dir, n_brokers=1, die_with_parent=True)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(base_dir, ignore_errors=True)
