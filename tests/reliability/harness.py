"""Fault-injection tests: worker, gateway and endpoint processes, knobs, the per-scenario summary.

Knobs (environment; defaults are the reduced CI set, ``make test-reliability`` sets the full one):

* ``GIGBRIDGE_RELIABILITY_TRIALS``   worker kill -9 trials (default 3, full 10)
* ``GIGBRIDGE_FUZZ_CASES``           hostile messages produced to the ingest topics (default 20000, full 100000)
* ``GIGBRIDGE_GATEWAY_FUZZ_CASES``   hostile requests sent to the HTTP gateway (default 3000, full 100000)
* ``GIGBRIDGE_RELIABILITY_OUTAGE_S`` how long the insurer endpoint is down (default 20, full 60)
* ``GIGBRIDGE_RELIABILITY_CASES``   concern cases of the case scenarios (default 24, full 96)
* ``GIGBRIDGE_RELIABILITY_SEED``     seed of the traffic and of the kill points (default 20240601)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support.kafka_io import HubProcess, free_port, wait_for
from tests.support.ledger import LedgerReport

# Faust reads these from the environment (they override the app's own settings). Its defaults
# (60 s session and rebalance timeouts) make a restarted worker wait up to a minute for the
# killed member to expire before it gets its partitions back; the tests use shorter ones.
FAST_GROUP_ENV = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1",
                  "BROKER_REBALANCE_TIMEOUT": "20"}

SUMMARY: list[tuple[str, LedgerReport | None, float, str]] = []


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


SEED = env_int("GIGBRIDGE_RELIABILITY_SEED", 20240601)

#: Set by `make test-reliability` (the full set). Scenarios marked with :data:`FULL_SUITE_ONLY` are
#: the long ones whose fault another scenario of `make test` already exercises; they run there only,
#: so `make test` keeps its 25-minute budget on 2 cores.
FULL_SUITE = bool(os.environ.get("GIGBRIDGE_RELIABILITY_FULL"))
FULL_SUITE_ONLY = pytest.mark.skipif(not FULL_SUITE, reason="make test-reliability only (long; make test's budget)")


def record(name: str, report: LedgerReport | None, seconds: float, note: str = "") -> None:
    """Keep a scenario's figures for the summary at the end of the run, and print them now."""
    SUMMARY.append((name, report, seconds, note))
    if report is not None:
        print(report.table())
        print(report.summary_line())
    if note:
        print(f"[{name}] {note}")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int | None, object]:
    """(status, JSON body); status None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, None
    except (OSError, ValueError) as exc:
        return None, str(exc)


class Service:
    """One ``gigbridge <command>`` process of a scenario (a new port per start; same data dir)."""

    command: list[str] = []
    port_env = "GIGBRIDGE_WORKER_WEB_PORT"

    def __init__(self, conn, workdir: Path, env: dict[str, str]) -> None:
        self.conn, self.workdir, self.env = conn, workdir, env
        self.hub: HubProcess | None = None
        self.starts = 0

    def start(self):
        self.hub = HubProcess(self.conn, self.command, self.workdir, self.env, port_env=self.port_env).start()
        self.starts += 1
        return self

    @property
    def port(self) -> int:
        return self.hub.port

    @property
    def alive(self) -> bool:
        return self.hub is not None and self.hub.proc is not None and self.hub.proc.poll() is None

    def metric(self, name: str, **labels: str) -> float:
        return self.hub.metric(name, **labels)

    def metrics_text(self) -> str:
        return self.hub.metrics()

    def get(self, path: str) -> tuple[int | None, object]:
        return http_get(self.port, path)

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: self.get("/readyz")[0] == 200, timeout, f"{self.command[0]} /readyz 200")

    def terminate(self, timeout: float = 60) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds to exit)."""
        started = time.monotonic()
        self.hub.proc.terminate()
        try:
            rc = self.hub.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.hub.proc.kill()
            self.hub.proc.wait(30)
            rc = -9
        return rc, time.monotonic() - started

    def stop(self) -> int | None:
        if self.alive:
            return self.terminate()[0]
        return None if self.hub is None else self.hub.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        return self.hub.log_tail(lines) if self.hub else ""

    def log_text(self) -> str:
        return self.hub.log_path.read_text(errors="replace") if self.hub else ""


class Worker(Service):
    """One ``gigbridge worker`` process of a scenario; ``restart`` keeps its data dir and app id."""

    command = ["worker"]

    def __init__(self, conn, workdir: Path, app_id: str, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(conn, workdir, {"GIGBRIDGE_APP_ID": app_id, "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
                                         **FAST_GROUP_ENV, **(extra_env or {})})
        self.app_id = app_id

    def received(self) -> float:
        return self.metric("gigbridge_events_received_total")

    def wait_subscribed(self, n_topics: int, timeout: float = 120) -> None:
        wait_for(lambda: self.metric("gigbridge_subscribed_ingest_topics") >= n_topics, timeout,
                 f"worker subscribed to {n_topics} ingest topics")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        self.hub.proc.kill()
        self.hub.proc.wait(30)

    def diagnosis(self, lines: int = 15) -> str:
        """/readyz and the last log lines that are not the periodic counts (failure messages)."""
        if not self.alive:
            return f"worker exited: {self.hub.proc.returncode if self.hub else None}"
        tail = [line for line in self.log_text().splitlines() if '"counts"' not in line][-lines:]
        return f"/readyz: {self.get('/readyz')}\n" + "\n".join(line[:300] for line in tail)


class GatewayProcess(Service):
    """``gigbridge ingest`` (the HTTP ingest gateway) for ``tokens`` (platform -> clear token)."""

    command = ["ingest"]
    port_env = "GIGBRIDGE_GATEWAY_PORT"

    def __init__(self, conn, workdir: Path, tokens: dict[str, str], extra_env: dict[str, str] | None = None) -> None:
        from connectors.gateway import hash_token

        super().__init__(conn, workdir, {"GIGBRIDGE_GATEWAY_TOKENS": json.dumps(
            {p: hash_token(t) for p, t in tokens.items()}), **(extra_env or {})})
        self.tokens = tokens

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class SimEndpoint:
    """``gigbridge sim-endpoint`` in a subprocess (the simulated provincial insurer)."""

    def __init__(self, workdir: Path, secret: str) -> None:
        self.port = free_port()
        self.secret = secret
        self.log = (workdir / "endpoint.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gigbridge.cli", "sim-endpoint", "--port", str(self.port), "--secret", secret],
            stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for(lambda: http_get(self.port, "/healthz")[0] == 200, 30, "sim endpoint up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, **body) -> dict:
        req = urllib.request.Request(f"{self.url}/_control", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return http_get(self.port, "/_stats")[1]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def onboard_platforms(conn, platforms: list[str], replication_factor: int = 1) -> None:
    """Create the platforms' ingest and rejected topics (`gigbridge topics ensure --platform`)."""
    from gigbridge.settings import Settings
    from gigbridge.topics_admin import TopicAdmin
    from streams.core.topics import ingest_topic, rejected_topic
    from streams.core.validate import EVENT_TYPES

    admin = TopicAdmin(Settings(kafka_bootstrap=conn.bootstrap, kafka_username=conn.username,
                                kafka_password=conn.password, topic_replication_factor=replication_factor))
    try:
        admin.ensure([ingest_topic(p, t) for p in platforms for t in EVENT_TYPES]
                     + [rejected_topic(p) for p in platforms])
    finally:
        admin.close()


def group_coordinator(conn, group_id: str) -> int | None:
    """Node id of the group's coordinator: the leader of ``__consumer_offsets`` partition
    ``javaHashCode(group_id) % partitions`` (how Kafka places a group)."""
    from kafka.admin import KafkaAdminClient

    h = 0
    for ch in group_id:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    admin = KafkaAdminClient(client_id="reliability-coordinator", **conn.kafka_python_config())
    try:
        [desc] = admin.describe_topics(["__consumer_offsets"])
        partitions = {p["partition_index"]: p["leader_id"] for p in desc["partitions"]}
        return partitions.get((h & 0x7FFFFFFF) % len(partitions))
    except Exception:  # noqa: BLE001 - only used to pick the most interesting broker to kill
        return None
    finally:
        admin.close()


def kill_9_trials(worker, traffic, trials: int, rng, *, rate: float, busy: int = 50) -> list[tuple[float, int]]:
    """Stream ``traffic`` open-ended at ``rate``/s and SIGKILL ``worker`` ``trials`` times, each at
    a random point 0.2-3 s after the (re)started worker has processed ``busy`` messages, restarting
    it each time; returns the kill points (seconds, messages done). On return the worker is
    processing again and the traffic is stopped and flushed."""
    traffic.stream(n=10_000_000, rate=rate)  # open-ended; stopped after the last trial
    kill_points = []
    for trial in range(trials):
        # the (re)started worker is processing again: its own counter moves
        wait_for(lambda: worker.received() >= busy, 90, f"trial {trial}: worker processing")
        delay = rng.uniform(0.2, 3.0)
        time.sleep(delay)  # a random kill point, not a wait for a condition
        kill_points.append((round(delay, 2), int(worker.received())))
        worker.kill()
        worker.start()
    wait_for(lambda: worker.received() >= busy, 90, "worker processing after the last restart")
    traffic.stop()
    traffic.join()
    return kill_points
