"""Small helpers for integration tests against the real broker: produce, read a topic to its
end, run a hub process or any long-running command, poll for a condition with a deadline (never
a fixed sleep)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

from kafka import KafkaProducer

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
    from gigbridge.commands.topic_read import read_to_end

    return read_to_end(conn.kafka_python_config(), topic, timeout_ms)


class Background:
    """A long-running command in a subprocess (a hub process, a consumer loop, ``prometheus``);
    its stdout and stderr are appended to ``log_path``. ``own_group``: start it in a process group
    of its own and stop the whole group (a shell and the command it runs)."""

    def __init__(self, command: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None, own_group: bool = False) -> None:
        self.command = command
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.own_group = own_group
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=self.own_group)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_output(self, pattern: str, timeout: float, what: str) -> re.Match:
        """The first match of ``pattern`` in the output; fails early if the process exits first."""
        regex = re.compile(pattern, re.MULTILINE)

        def found() -> re.Match | None:
            exited = self.proc is not None and self.proc.poll() is not None
            match = regex.search(self.output())
            if match is None and exited:
                raise AssertionError(f"{what}: the process exited ({self.proc.returncode}) first:\n{self.log_tail()}")
            return match

        try:
            return wait_for(found, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self._signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            return self.proc.wait(10)

    def _signal(self, sig: int) -> None:
        if self.own_group:
            os.killpg(self.proc.pid, sig)  # the group this process leads (start_new_session)
        else:
            self.proc.send_signal(sig)


class HubProcess(Background):
    """``gigbridge <command>`` in a subprocess with the test broker's settings; ``port_env`` names
    the setting that gets a free port (the worker's web port, or the gateway's)."""

    def __init__(self, conn, command: list[str], workdir: Path, extra_env: dict[str, str] | None = None,
                 port_env: str = "GIGBRIDGE_WORKER_WEB_PORT") -> None:
        self.port = free_port()
        env = {**os.environ, **conn.as_env(), port_env: str(self.port),
               "GIGBRIDGE_DATA_DIR": str(workdir / "data"), "GIGBRIDGE_LOG_FORMAT": "json",
               **(extra_env or {})}
        super().__init__([sys.executable, "-m", "gigbridge.cli", *command], workdir / f"{command[0]}.log", env)

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


def hub_settings(conn, **overrides):
    """Hub settings that connect to ``conn`` (everything else default)."""
    from gigbridge.settings import Settings

    return Settings(kafka_bootstrap=conn.bootstrap, kafka_username=conn.username, kafka_password=conn.password,
                    kafka_security_protocol=conn.security_protocol, kafka_ssl_cafile=conn.ssl_cafile,
                    kafka_ssl_certfile=conn.ssl_certfile, kafka_ssl_keyfile=conn.ssl_keyfile, **overrides)


def onboard(conn, platform: str) -> None:
    """Create a platform's ingest and rejected topics (what `gigbridge topics ensure` does)."""
    from gigbridge.topics_admin import TopicAdmin
    from streams.core.topics import ingest_topic, rejected_topic
    from streams.core.validate import EVENT_TYPES

    admin = TopicAdmin(hub_settings(conn))
    try:
        admin.ensure([ingest_topic(platform, t) for t in EVENT_TYPES] + [rejected_topic(platform)])
    finally:
        admin.close()


def newer_librdkafka_env(directory) -> dict:
    """Debian 12's librdkafka 2.0.2 fails SCRAM against Kafka 4 brokers (kcat#462; fixed in
    librdkafka 2.6.1). Environment that runs the Debian kcat with the newer librdkafka that
    confluent-kafka's wheel bundles, the way an integrator would with an upgraded library."""
    from pathlib import Path

    import confluent_kafka

    bundled = sorted(Path(confluent_kafka.__file__).parent.parent.glob("confluent_kafka.libs/librdkafka*.so*"))
    if not bundled:
        return {}
    link = Path(directory) / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(bundled[0])
    return {"LD_LIBRARY_PATH": str(directory)}
