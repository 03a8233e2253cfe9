"""Small helpers for integration tests against the real broker: produce, read a topic to its
end, run a hub process, poll for a condition with a deadline (never a fixed sleep)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def producer(conn) -> KafkaProducer:
    return KafkaProducer(acks="all", **conn.kafka_python_config())


def read_all(conn, topic: str, timeout_ms: int = 1500) -> list:
    """Every record currently in ``topic`` (all partitions, from the beginning)."""
    consumer = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=timeout_ms, **conn.kafka_python_config())
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=timeout_ms).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


class HubProcess:
    """``gigbridge <command>`` in a subprocess with the test broker's settings."""

    def __init__(self, conn, command: list[str], workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = {**os.environ, **conn.as_env(), "GIGBRIDGE_WORKER_WEB_PORT": str(self.port),
                    "GIGBRIDGE_DATA_DIR": str(workdir / "data"), "GIGBRIDGE_LOG_FORMAT": "json",
                    **(extra_env or {})}
        self.command = [sys.executable, "-m", "gigbridge.cli", *command]
        self.log_path = workdir / f"{command[0]}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "HubProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if self.proc and self.proc.poll() is not None:
                raise AssertionError(f"hub process exited ({self.proc.returncode}):\n{self.log_tail()}")
            return ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def onboard(conn, platform: str) -> None:
    """Create a platform's ingest and rejected topics (what `gigbridge topics ensure` does)."""
    from gigbridge.settings import Settings
    from gigbridge.topics_admin import TopicAdmin
    from streams.topics import ingest_topic, rejected_topic
    from streams.validate import EVENT_TYPES

    admin = TopicAdmin(Settings(kafka_bootstrap=conn.bootstrap, kafka_username=conn.username,
                                kafka_password=conn.password))
    try:
        admin.ensure([ingest_topic(platform, t) for t in EVENT_TYPES] + [rejected_topic(platform)])
    finally:
        admin.close()
