"""The benchmark's own single-node broker in ``.local/bench-kafka`` (free ports picked on first
start and kept in its ``cluster.json``), started or reused, never the ``make kafka-up`` one."""

from __future__ import annotations

import shutil

from bench.common import KAFKA_DIR, say
from deploy.kafka.local import KafkaConnection, LocalKafkaCluster, LocalKafkaError


class BenchBroker:
    def __init__(self) -> None:
        self.cluster: LocalKafkaCluster | None = None
        self.started_here = False

    def start(self) -> KafkaConnection:
        cluster = LocalKafkaCluster.from_dir(KAFKA_DIR, n_brokers=1)
        self.started_here = not cluster.running()
        say(("starting" if self.started_here else "reusing") + f" the bench broker in {KAFKA_DIR}")
        try:
            conn = cluster.start(timeout=120)
        except LocalKafkaError as exc:
            if "already in use" not in str(exc):
                raise
            # Someone took the ports recorded for this directory: start over on fresh ones.
            say("the bench broker's ports are taken; recreating it on free ports")
            shutil.rmtree(KAFKA_DIR, ignore_errors=True)
            cluster = LocalKafkaCluster(KAFKA_DIR, n_brokers=1)
            self.started_here = True
            conn = cluster.start(timeout=120)
        self.cluster = cluster
        return conn

    @property
    def pid(self) -> int | None:
        return self.cluster.pid(0) if self.cluster else None

    def stop_if_started(self, stop: bool) -> None:
        """Leave the broker running for the next run (its start, with some 350 topics to load,
        costs more than `make bench-quick` may take), or stop it if ``stop`` and this run
        started it. ``python -m bench down`` stops it any time."""
        if self.cluster is None:
            return
        if stop and self.started_here:
            say("stopping the bench broker")
            self.cluster.stop()
        elif self.started_here:
            say("the bench broker keeps running for the next run; stop it with `python -m bench down`")


def down() -> int:
    """``python -m bench down``: stop the bench broker (its data is kept)."""
    cluster = LocalKafkaCluster.from_dir(KAFKA_DIR, n_brokers=1)
    cluster.stop()
    print(f"bench broker in {KAFKA_DIR} stopped")
    return 0
