"""Run a real Apache Kafka 4.1 (KRaft) cluster on 127.0.0.1 without Docker.

Development and test tooling, not product code: ``make kafka-up``, the test suite's broker
(tests/conftest.py) and the benchmarks use it; the hub never imports it, and a production
deployment brings its own cluster (docs/operations.md).

The Kafka jars come from Maven Central via ``deploy/kafka/pom.xml`` (``mvn`` and a Java 17+
``java`` must be on PATH).  Every node runs ``kafka.Kafka`` with ``process.roles=broker,controller``
in its own JVM; a cluster directory (``.local/kafka`` for ``make kafka-up``) holds everything::

    <base_dir>/cluster.json            cluster id, node count, ports, admin password fingerprint
    <base_dir>/broker-<i>/server.properties   regenerated on every start
    <base_dir>/broker-<i>/data/        log.dirs (meta.properties, topics, __cluster_metadata)
    <base_dir>/broker-<i>/logs/        log4j output (server.log), see deploy/kafka/log4j2.yaml
    <base_dir>/broker-<i>/kafka.out    JVM stdout/stderr (WARN+ log lines, crashes)
    <base_dir>/broker-<i>/kafka.pid    pid of the running JVM

The jars are cached in ``.local/kafka/lib`` (shared by all cluster directories, see ``ensure_jars``).

Python API: ``LocalKafkaCluster(dir, n_brokers=3).start()`` returns a :class:`KafkaConnection`;
``stop()``, ``stop_broker(i)``, ``kill_broker(i)`` and ``start_broker(i)`` manage the JVMs.

Security model (all sockets bind to 127.0.0.1 only):

* ``CLIENT`` listener: SASL_PLAINTEXT with SCRAM-SHA-512 only.  It is also the inter-broker
  listener; brokers authenticate to each other as the ``admin`` super-user.  A client that does not
  complete SCRAM authentication is disconnected, so nobody reaches the broker as ``User:ANONYMOUS``.
* ``CONTROLLER`` listener: SASL_PLAINTEXT with PLAIN (KRaft cannot use SCRAM there, because SCRAM
  credentials live in the metadata log the controllers serve).  Its only account is ``admin``, with
  the same password, defined in the JAAS config.
* ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false`` and
  ``super.users=User:admin``: any other SCRAM user needs explicit ACLs.

Command line (``make kafka-up`` / ``make kafka-down`` call these)::

    python -m deploy.kafka.local up     [--dir DIR] [--brokers N] [--port P] [--env-file PATH]
    python -m deploy.kafka.local down   [--dir DIR]
    python -m deploy.kafka.local status [--dir DIR]
    python -m deploy.kafka.local fetch  # only resolve the jars into the cache

The admin password defaults to ``admin-secret``; set ``GIGBRIDGE_KAFKA_PASSWORD`` (or pass
``password=``/``--password``) to change it.  The password is fixed when a directory is first
formatted; starting it later with a different one is refused with a clear error.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ADMIN_USER",
    "DEFAULT_CLIENT_PORT",
    "DEFAULT_DIR",
    "DEFAULT_LIB_DIR",
    "DEFAULT_PASSWORD",
    "ENV_FILE",
    "KafkaConnection",
    "LocalKafkaCluster",
    "LocalKafkaError",
    "ensure_jars",
    "write_env_file",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = Path(__file__).resolve().with_name("pom.xml")
LOG4J_CONFIG = Path(__file__).resolve().with_name("log4j2.yaml")
DEFAULT_LIB_DIR = REPO_ROOT / ".local" / "kafka" / "lib"
DEFAULT_DIR = REPO_ROOT / ".local" / "kafka"  # `make kafka-up`; the jar cache lib/ lives inside
ENV_FILE = REPO_ROOT / ".local" / "kafka.env"

ADMIN_USER = "admin"
DEFAULT_PASSWORD = "admin-secret"
PASSWORD_ENV = "GIGBRIDGE_KAFKA_PASSWORD"
DEFAULT_CLIENT_PORT = 19092
HOST = "127.0.0.1"

#: JVM flags for every node; small heap, G1, die on OOM instead of limping along.
JVM_OPTS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

_MARKER = ".pom.sha256"
# Characters that survive JAAS quoting and StorageTool's --add-scram parser unescaped.
_PASSWORD_RE = re.compile(r"[A-Za-z0-9._~!@#%^*+:/?-]{1,128}")


class LocalKafkaError(RuntimeError):
    """Raised when the local cluster cannot be resolved, formatted, started or stopped."""


# --------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KafkaConnection:
    """Everything a client needs to talk to the cluster (all brokers are listed in ``bootstrap``)."""

    bootstrap: str
    username: str
    password: str
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"

    def kafka_python_config(self) -> dict[str, str]:
        """Keyword arguments for kafka-python ``KafkaAdminClient``/``KafkaProducer``/``KafkaConsumer``.

        The same keys are accepted by aiokafka's ``AIOKafkaProducer``/``AIOKafkaConsumer``/
        ``AIOKafkaAdminClient``.
        """
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def as_env(self) -> dict[str, str]:
        """The ``GIGBRIDGE_KAFKA_*`` variables describing this connection (see ``.local/kafka.env``)."""
        return {
            "GIGBRIDGE_KAFKA_BOOTSTRAP": self.bootstrap,
            "GIGBRIDGE_KAFKA_USERNAME": self.username,
            "GIGBRIDGE_KAFKA_PASSWORD": self.password,
            "GIGBRIDGE_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "GIGBRIDGE_KAFKA_SASL_MECHANISM": self.sasl_mechanism,
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaConnection | None:
        """Build a connection from ``GIGBRIDGE_KAFKA_*`` variables; ``None`` if no bootstrap is set.

        Username and password default to ``admin`` / ``admin-secret`` when unset.
        """
        env = os.environ if env is None else env
        bootstrap = env.get("GIGBRIDGE_KAFKA_BOOTSTRAP", "").strip()
        if not bootstrap:
            return None
        return cls(
            bootstrap=bootstrap,
            username=env.get("GIGBRIDGE_KAFKA_USERNAME") or ADMIN_USER,
            password=env.get("GIGBRIDGE_KAFKA_PASSWORD") or DEFAULT_PASSWORD,
            security_protocol=env.get("GIGBRIDGE_KAFKA_SECURITY_PROTOCOL") or "SASL_PLAINTEXT",
            sasl_mechanism=env.get("GIGBRIDGE_KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
        )


def write_env_file(connection: KafkaConnection, path: Path = ENV_FILE) -> Path:
    """Write ``KEY=value`` lines for ``connection`` to ``path`` (mode 0600) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in connection.as_env().items())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Written by `python -m deploy.kafka.local up`; removed by `down`.\n" + text)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# Jars and Java
# --------------------------------------------------------------------------------------------

def ensure_jars(lib_dir: Path = DEFAULT_LIB_DIR, pom: Path = POM) -> Path:
    """Make sure ``lib_dir`` holds the runtime jars of ``pom`` and return ``lib_dir``.

    Resolution runs ``mvn dependency:copy-dependencies`` into a scratch folder that then replaces
    ``lib_dir`` (so jars of an older pom never linger).  It is skipped when ``lib_dir`` contains
    a marker with the pom's sha256, i.e. editing the pom re-resolves on the next call.  Concurrent
    callers are serialised with a file lock.  Raises :class:`LocalKafkaError` if ``mvn`` is needed
    but missing or fails.
    """
    lib_dir = Path(lib_dir).resolve()
    digest = hashlib.sha256(Path(pom).read_bytes()).hexdigest()
    marker = lib_dir / _MARKER

    def populated() -> bool:
        try:
            return marker.read_text().strip() == digest and any(lib_dir.glob("kafka_*.jar"))
        except OSError:
            return False

    if populated():
        return lib_dir
    lib_dir.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(lib_dir.parent / f".{lib_dir.name}.lock"):
        if populated():  # another process resolved it while we waited
            return lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                "Apache Maven (`mvn`) is not on PATH; it is needed once to download the Kafka jars "
                f"into {lib_dir}. Install it (e.g. `apt-get install maven` / `brew install maven`).")
        scratch = lib_dir.with_name(f"{lib_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(scratch, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
               f"-DoutputDirectory={scratch}", "-DincludeScope=runtime"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not any(scratch.glob("kafka_*.jar")):
            shutil.rmtree(scratch, ignore_errors=True)
            raise LocalKafkaError(
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{_tail_text(proc.stdout, 40)}")
        (scratch / _MARKER).write_text(digest + "\n")
        shutil.rmtree(lib_dir, ignore_errors=True)
        scratch.rename(lib_dir)
    return lib_dir


def _java() -> str:
    """Path of a Java 17+ ``java`` (``$JAVA_HOME/bin/java`` first, then PATH)."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    for java in candidates:
        if os.access(java, os.X_OK):
            break
    else:
        raise LocalKafkaError("`java` was not found (set JAVA_HOME or put a Java 17+ `java` on PATH); "
                              "Kafka 4.1 needs Java 17 or newer.")
    out = subprocess.run([java, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    if major < 17:
        raise LocalKafkaError(f"Kafka 4.1 needs Java 17+, but {java} reports: {out.strip()}")
    return java


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------

class LocalKafkaCluster:
    """N combined broker+controller JVMs on 127.0.0.1 sharing one directory.

    Node ``i`` (``0 <= i < n_brokers``) has ``node.id=i``.  With ``client_port=P`` node ``i`` listens
    for clients on ``P+i`` and for controllers on ``P+n_brokers+i``; with ``client_port=None`` free
    ports are picked on first start.  Either way the ports are recorded in ``cluster.json`` and
    reused by later starts of the same directory, as are the cluster id and the data.

    Guarantees: :meth:`start` returns only once every node answers on its client port and
    ``DescribeCluster`` (as the SCRAM admin) lists all of them unfenced; it never sleeps for a fixed
    time.  :meth:`stop` returns only once every JVM has exited.  Processes are started in their own
    session, so they outlive the Python process unless ``die_with_parent=True`` (Linux only), which
    makes the kernel SIGTERM them when the starting thread exits (used by the test-suite so a killed
    pytest run does not leave JVMs behind).
    """

    def __init__(self, base_dir: Path, n_brokers: int = 1, client_port: int | None = None,
                 password: str | None = None, lib_dir: Path | None = None,
                 die_with_parent: bool = False) -> None:
        """Describe a cluster; does no I/O (nothing is created or started before :meth:`start`).

        ``password`` defaults to ``$GIGBRIDGE_KAFKA_PASSWORD`` or ``admin-secret``; ``lib_dir`` to the
        shared jar cache ``.local/kafka/lib``.
        """
        if n_brokers < 1:
            raise ValueError("n_brokers must be >= 1")
        password = password if password is not None else os.environ.get(PASSWORD_ENV) or DEFAULT_PASSWORD
        if not _PASSWORD_RE.fullmatch(password):
            raise ValueError("the admin password may only contain letters, digits and ._~!@#%^*+:/?- "
                             "(it is embedded unescaped in JAAS and StorageTool arguments)")
        self.base_dir = Path(base_dir).absolute()
        self.n_brokers = n_brokers
        self.password = password
        self.lib_dir = Path(lib_dir) if lib_dir is not None else DEFAULT_LIB_DIR
        self.die_with_parent = die_with_parent
        self._requested_port = client_port
        self._state: dict | None = None
        self._procs: dict[int, subprocess.Popen] = {}

    @classmethod
    def from_dir(cls, base_dir: Path, **kwargs) -> LocalKafkaCluster:
        """A cluster object for an existing directory, taking ``n_brokers`` from its ``cluster.json``."""
        state_file = Path(base_dir) / "cluster.json"
        if state_file.exists():
            kwargs.setdefault("n_brokers", json.loads(state_file.read_text())["n_brokers"])
        return cls(base_dir, **kwargs)

    # -- paths and state -----------------------------------------------------------------------

    def broker_dir(self, i: int) -> Path:
        """Directory of node ``i`` (config, data, logs, pid file)."""
        self._check_index(i)
        return self.base_dir / f"broker-{i}"

    def log_file(self, i: int) -> Path:
        """The log4j ``server.log`` of node ``i``."""
        return self.broker_dir(i) / "logs" / "server.log"

    @property
    def client_ports(self) -> list[int]:
        return list(self._ports()["client_ports"])

    @property
    def controller_ports(self) -> list[int]:
        return list(self._ports()["controller_ports"])

    @property
    def connection(self) -> KafkaConnection:
        """Connection for the admin super-user; needs known ports (``client_port`` given, or started)."""
        bootstrap = ",".join(f"{HOST}:{p}" for p in self._ports()["client_ports"])
        return KafkaConnection(bootstrap=bootstrap, username=ADMIN_USER, password=self.password)

    def _ports(self) -> dict:
        if self._state is not None:
            return self._state
        if self._requested_port is not None:
            return self._fixed_ports(self._requested_port)
        state = self._read_state()
        if state is None:
            raise LocalKafkaError("ports are picked on first start(); call start() first")
        return state

    def _fixed_ports(self, port: int) -> dict:
        n = self.n_brokers
        return {"client_ports": [port + i for i in range(n)],
                "controller_ports": [port + n + i for i in range(n)]}

    def _read_state(self) -> dict | None:
        try:
            return json.loads((self.base_dir / "cluster.json").read_text())
        except FileNotFoundError:
            return None

    def _load_or_create_state(self) -> dict:
        fingerprint = _fingerprint(self.password)
        state = self._read_state()
        if state is None:
            if self._requested_port is not None:
                ports = self._fixed_ports(self._requested_port)
            else:
                free = _free_ports(2 * self.n_brokers)
                ports = {"client_ports": free[:self.n_brokers], "controller_ports": free[self.n_brokers:]}
            state = {"cluster_id": _new_cluster_id(), "n_brokers": self.n_brokers,
                     "password_fingerprint": fingerprint, **ports}
            self.base_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.base_dir / "cluster.json.tmp"
            tmp.write_text(json.dumps(state, indent=2) + "\n")
            os.replace(tmp, self.base_dir / "cluster.json")
        else:
            where = self.base_dir / "cluster.json"
            if state["n_brokers"] != self.n_brokers:
                raise LocalKafkaError(f"{where} describes {state['n_brokers']} broker(s), not "
                                      f"{self.n_brokers}; use that count or another directory")
            if (self._requested_port is not None
                    and state["client_ports"] != self._fixed_ports(self._requested_port)["client_ports"]):
                raise LocalKafkaError(f"{where} uses client ports {state['client_ports']}, not "
                                      f"{self._requested_port}+; use those or another directory")
            if state["password_fingerprint"] != fingerprint:
                raise LocalKafkaError(f"{self.base_dir} was formatted with a different admin password; "
                                      "pass the original one (GIGBRIDGE_KAFKA_PASSWORD) or remove the "
                                      "directory to start from scratch")
        self._state = state
        return state

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.n_brokers:
            raise IndexError(f"broker index {i} out of range 0..{self.n_brokers - 1}")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> KafkaConnection:
        """Start every node that is not running and wait until the whole cluster is ready.

        Idempotent: nodes already running from this directory (pid file + live ``kafka.Kafka``
        process) are reused.  Jars are resolved first (see :func:`ensure_jars`); each node's storage
        is formatted only if it has no ``meta.properties`` yet, so a restart keeps all data.  If a
        JVM exits or readiness is not reached before ``timeout`` seconds, the nodes launched by this
        call are stopped again and :class:`LocalKafkaError` is raised with the tail of the logs.
        """
        deadline = time.monotonic() + timeout
        state = self._load_or_create_state()
        lib = ensure_jars(self.lib_dir, POM)
        java = _java()
        launched = []
        try:
            todo = []
            for i in range(self.n_brokers):
                self._write_config(i, state)
                if self._pid(i) is None:
                    todo.append(i)
            self._format_if_needed(todo, java, lib, state)
            for i in todo:
                self._launch(i, java, lib)
                launched.append(i)
            self._wait_ready(deadline, timeout)
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error
                self._terminate(launched, 10)
            raise
        return self.connection

    def stop(self, timeout: float = 30) -> None:
        """Stop every node: SIGTERM all at once, poll until they exit, SIGKILL stragglers after
        ``timeout`` seconds.  Removes the pid files.  A no-op for nodes that are not running."""
        if self._state is None and self._read_state() is None:
            return
        self._terminate(range(self.n_brokers), timeout)

    def stop_broker(self, i: int, timeout: float = 30) -> None:
        """Gracefully stop node ``i`` (SIGTERM, SIGKILL after ``timeout``); returns once it exited."""
        self._check_index(i)
        self._terminate([i], timeout)

    def kill_broker(self, i: int) -> None:
        """SIGKILL node ``i`` (simulated crash: no controlled shutdown); returns once it is gone."""
        self._check_index(i)
        pid = self._pid(i)
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            self._await_exit([i], time.monotonic() + 30)
        self._forget(i)

    def start_broker(self, i: int, wait: bool = True, timeout: float = 90) -> None:
        """(Re)start node ``i`` if it is not running.  With ``wait`` it returns once the node serves
        requests and every running node is registered unfenced (same check as :meth:`start`)."""
        self._check_index(i)
        deadline = time.monotonic() + timeout
        state = self._load_or_create_state()
        if self._pid(i) is None:
            lib = ensure_jars(self.lib_dir, POM)
            java = _java()
            self._write_config(i, state)
            self._format_if_needed([i], java, lib, state)
            self._launch(i, java, lib)
        if wait:
            self._wait_ready(deadline, timeout)

    def running(self) -> list[int]:
        """Indexes of the nodes whose JVM is currently alive."""
        return [i for i in range(self.n_brokers) if self._pid(i) is not None]

    def pid(self, i: int) -> int | None:
        """Pid of node ``i``'s JVM, or ``None`` if it is not running."""
        self._check_index(i)
        return self._pid(i)

    def is_ready(self, timeout: float = 5) -> bool:
        """True if every running node answers and the admin sees all of them unfenced (no waiting
        beyond ``timeout`` seconds)."""
        try:
            return bool(self.running()) and self._ready_now(self.running(), timeout)
        except LocalKafkaError:
            return False

    # -- config and storage ----------------------------------------------------------------------

    def _server_properties(self, i: int, state: dict) -> str:
        n = self.n_brokers
        client, controller = state["client_ports"][i], state["controller_ports"][i]
        voters = ",".join(f"{j}@{HOST}:{p}" for j, p in enumerate(state["controller_ports"]))
        rf, min_isr = min(3, n), min(2, n)
        pw = self.password
        props = {
            "process.roles": "broker,controller",
            "node.id": i,
            "controller.quorum.voters": voters,
            "listeners": f"CLIENT://{HOST}:{client},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"CLIENT://{HOST}:{client}",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "controller.listener.names": "CONTROLLER",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.client.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{ADMIN_USER}" password="{pw}";',
            "listener.name.controller.plain.sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{ADMIN_USER}" password="{pw}" user_{ADMIN_USER}="{pw}";',
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN_USER}",
            "log.dirs": str(self.broker_dir(i) / "data"),
            "num.partitions": 3,
            "default.replication.factor": rf,
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            # Faster failure detection than the 9 s default, for kill/restart tests.
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 6000,
        }
        header = ("# Generated by deploy/kafka/local.py on every start; edits are overwritten.\n"
                  f"# Cluster {state['cluster_id']}, node {i} of {n}.\n")
        return header + "".join(f"{k}={v}\n" for k, v in props.items())

    def _write_config(self, i: int, state: dict) -> Path:
        bdir = self.broker_dir(i)
        (bdir / "logs").mkdir(parents=True, exist_ok=True)
        path = bdir / "server.properties"
        text = self._server_properties(i, state)
        if not path.exists() or path.read_text() != text:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the password
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        return path

    def _format_if_needed(self, indexes: list[int], java: str, lib: Path, state: dict) -> None:
        """Format the storage of the given nodes that have no ``meta.properties`` yet (in parallel).

        The admin SCRAM credential is written into the bootstrap metadata, so it exists before any
        listener accepts connections (brokers need it to authenticate to each other)."""
        pending = {}
        for i in indexes:
            meta = self.broker_dir(i) / "data" / "meta.properties"
            if meta.exists():
                found = _read_properties(meta).get("cluster.id")
                if found != state["cluster_id"]:
                    raise LocalKafkaError(
                        f"{meta} belongs to cluster {found}, but {self.base_dir / 'cluster.json'} says "
                        f"{state['cluster_id']}; remove {self.base_dir} to start over")
                continue
            cmd = [java, "-Xmx256m", "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format",
                   "--config", str(self.broker_dir(i) / "server.properties"),
                   "--cluster-id", state["cluster_id"],
                   "--add-scram", f"SCRAM-SHA-512=[name={ADMIN_USER},password={self.password}]"]
            pending[i] = subprocess.Popen(cmd, cwd=self.broker_dir(i), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        failures = []
        for i, proc in pending.items():
            output, _ = proc.communicate()
            if proc.returncode != 0 or not (self.broker_dir(i) / "data" / "meta.properties").exists():
                failures.append(f"formatting {self.broker_dir(i) / 'data'} failed (exit {proc.returncode}):\n"
                                f"{_tail_text(output, 30)}")
        if failures:
            raise LocalKafkaError("\n".join(failures))

    # -- processes -----------------------------------------------------------------------------

    def _launch(self, i: int, java: str, lib: Path) -> None:
        bdir = self.broker_dir(i)
        state = self._state
        busy = [p for p in (state["client_ports"][i], state["controller_ports"][i]) if not _port_free(p)]
        if busy:
            raise LocalKafkaError(f"cannot start node {i}: port(s) {busy} on {HOST} are already in use "
                                  "by another process (is another Kafka running? see `status`)")
        cmd = [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
               f"-Dkafka.logs.dir={bdir / 'logs'}", "-cp", f"{lib}/*", "kafka.Kafka",
               str(bdir / "server.properties")]
        with open(bdir / "kafka.out", "ab") as out:
            out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting node {i}\n".encode())
            out.flush()
            proc = subprocess.Popen(cmd, cwd=bdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_pdeathsig_hook() if self.die_with_parent else None)
        self._procs[i] = proc
        (bdir / "kafka.pid").write_text(f"{proc.pid}\n")

    def _pid(self, i: int) -> int | None:
        """Pid of node ``i`` if its JVM is alive (reaps our own exited children)."""
        proc = self._procs.get(i)
        if proc is not None:
            if proc.poll() is None:
                return proc.pid
            self._procs.pop(i, None)
            return None
        try:
            pid = int((self.broker_dir(i) / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        marker = str(self.broker_dir(i) / "server.properties")
        cmdline = _cmdline(pid)
        if cmdline is None or "kafka.Kafka" not in cmdline or marker not in cmdline:
            return None  # stale pid file (process gone, or pid reused by something else)
        return pid

    def _forget(self, i: int) -> None:
        self._procs.pop(i, None)
        with contextlib.suppress(FileNotFoundError):
            (self.broker_dir(i) / "kafka.pid").unlink()

    def _terminate(self, indexes, timeout: float) -> None:
        indexes = list(indexes)
        for i in indexes:
            pid = self._pid(i)
            if pid is not None:
                _signal(pid, signal.SIGTERM)
        if not self._await_exit(indexes, time.monotonic() + timeout):
            for i in indexes:
                pid = self._pid(i)
                if pid is not None:
                    _signal(pid, signal.SIGKILL)
            if not self._await_exit(indexes, time.monotonic() + 15):
                raise LocalKafkaError(f"node(s) {[i for i in indexes if self._pid(i)]} survived SIGKILL")
        for i in indexes:
            self._forget(i)

    def _await_exit(self, indexes, deadline: float) -> bool:
        while True:
            if all(self._pid(i) is None for i in indexes):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    # -- readiness -------------------------------------------------------------------------------

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        expected = self.running()
        last_error = "no attempt yet"
        while True:
            dead = [i for i in expected if self._pid(i) is None]
            if dead:
                raise LocalKafkaError(f"Kafka node(s) {dead} exited during startup.\n"
                                      + "\n".join(self._log_tail(i) for i in dead))
            try:
                if self._ready_now(expected, max(1.0, min(5.0, deadline - time.monotonic()))):
                    return
                last_error = "not all nodes registered/unfenced yet"
            except LocalKafkaError as exc:
                last_error = str(exc)
            if time.monotonic() >= deadline:
                raise LocalKafkaError(
                    f"Kafka in {self.base_dir} not ready after {timeout:.0f}s ({last_error}).\n"
                    + "\n".join(self._log_tail(i) for i in expected))
            time.sleep(0.2)

    def _ready_now(self, expected: list[int], timeout: float) -> bool:
        """One readiness probe: every expected node answers ApiVersions on its client port (cheap,
        thread-free), then an admin DescribeCluster lists all of them as unfenced."""
        ports = self._state["client_ports"] if self._state else self.client_ports
        for i in expected:
            if not _api_versions_ok(HOST, ports[i], timeout):
                return False
        brokers = _describe_brokers(self.connection, timeout)
        unfenced = {b["broker_id"] for b in brokers if not b.get("is_fenced", False)}
        return set(expected) <= unfenced

    def _log_tail(self, i: int, lines: int = 25) -> str:
        parts = []
        for path in (self.broker_dir(i) / "kafka.out", self.log_file(i)):
            if path.exists():
                parts.append(f"--- {path} (last {lines} lines) ---\n{_tail_text(_read_tail(path), lines)}")
        return "\n".join(parts) or f"(no logs for node {i})"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _describe_brokers(conn: KafkaConnection, timeout: float) -> list[dict]:
    from kafka.admin import KafkaAdminClient  # imported lazily: the CLI `fetch` needs no client

    ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(**conn.kafka_python_config(), client_id="gigbridge-local-kafka",
                                 bootstrap_timeout_ms=ms, request_timeout_ms=ms)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        raise LocalKafkaError(f"admin client cannot connect: {type(exc).__name__}: {exc}") from exc
    try:
        return admin.describe_cluster()["brokers"]
    except Exception as exc:  # noqa: BLE001
        raise LocalKafkaError(f"DescribeCluster failed: {type(exc).__name__}: {exc}") from exc
    finally:
        admin.close()


def _api_versions_ok(host: str, port: int, timeout: float) -> bool:
    """True if a Kafka listener on host:port answers an (unauthenticated) ApiVersions v0 request."""
    client_id = b"gigbridge-probe"
    body = struct.pack(">hhih", 18, 0, 0x5AFE, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exactly(sock, 10)  # size, correlation id, error code
    except OSError:
        return False
    if header is None:
        return False
    _size, correlation, error = struct.unpack(">iih", header)
    return correlation == 0x5AFE and error == 0


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _free_ports(count: int) -> list[int]:
    """``count`` distinct currently-free TCP ports on 127.0.0.1 (all held open while choosing)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _new_cluster_id() -> str:
    """A Kafka-style cluster id (url-safe base64 of a random UUID, never starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _fingerprint(password: str) -> str:
    return hashlib.sha256(f"gigbridge-local-kafka:{password}".encode()).hexdigest()


def _cmdline(pid: int) -> str | None:
    """Command line of a live (non-zombie) process, or None."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            return None
    out = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.strip()
    if not out or out.startswith("Z"):
        return None
    return out


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _pdeathsig_hook() -> Callable[[], object] | None:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when its parent thread exits.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); ``None`` elsewhere.  The libc lookup happens here, in
    the parent, so the child runs nothing but the ``prctl`` call between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return functools.partial(prctl, 1, int(signal.SIGTERM))  # 1 == PR_SET_PDEATHSIG


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def _read_tail(path: Path, max_bytes: int = 64 * 1024) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - max_bytes))
        return fh.read().decode(errors="replace")


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.kafka.local",
                                     description="Local Apache Kafka (KRaft, SASL/SCRAM) without Docker.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("up", "start (or reuse) the cluster and wait until it is ready"),
                        ("down", "stop the cluster (data is kept)"),
                        ("status", "show whether the cluster is running; exit 0 only if ready"),
                        ("fetch", "only download the Kafka jars into the cache")):
        cmd = sub.add_parser(name, help=help_)
        if name == "fetch":
            cmd.add_argument("--lib-dir", type=Path, default=DEFAULT_LIB_DIR)
            continue
        cmd.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                         help=f"cluster directory (default {DEFAULT_DIR})")
        if name == "up":
            cmd.add_argument("--brokers", type=int, default=None,
                             help="number of nodes (default 1, or as formatted)")
            cmd.add_argument("--port", type=int, default=None,
                             help=f"client port of node 0 (default {DEFAULT_CLIENT_PORT}, or as formatted); "
                                  "node i uses PORT+i, controllers PORT+N+i")
            cmd.add_argument("--password", default=None,
                             help=f"admin password (default ${PASSWORD_ENV} or {DEFAULT_PASSWORD})")
            cmd.add_argument("--env-file", type=Path, default=None,
                             help=f"write GIGBRIDGE_KAFKA_* here (default {ENV_FILE} for the default --dir)")
            cmd.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args(argv)

    try:
        if args.command == "fetch":
            print(ensure_jars(args.lib_dir))
            return 0
        default_dir = args.dir.resolve() == DEFAULT_DIR.resolve()
        if args.command == "up":
            kwargs = {"client_port": args.port, "password": args.password}
            if args.port is None and not (args.dir / "cluster.json").exists():
                kwargs["client_port"] = DEFAULT_CLIENT_PORT
            if args.brokers is not None:
                kwargs["n_brokers"] = args.brokers
            cluster = LocalKafkaCluster.from_dir(args.dir, **kwargs)
            started = time.monotonic()
            conn = cluster.start(timeout=args.timeout)
            print(f"Kafka ready in {time.monotonic() - started:.1f}s: "
                  f"{cluster.n_brokers} node(s) in {cluster.base_dir}")
            print(f"bootstrap={conn.bootstrap} security={conn.security_protocol}/{conn.sasl_mechanism} "
                  f"user={conn.username}")
            env_file = args.env_file or (ENV_FILE if default_dir else None)
            if env_file is not None:
                print(f"wrote {write_env_file(conn, env_file)}")
            return 0
        cluster = LocalKafkaCluster.from_dir(args.dir)
        if args.command == "down":
            cluster.stop()
            if default_dir:
                with contextlib.suppress(FileNotFoundError):
                    ENV_FILE.unlink()
            print(f"Kafka in {cluster.base_dir} stopped (data kept; delete {cluster.base_dir}/broker-* and "
                  "cluster.json to start from scratch)")
            return 0
        # status
        state = cluster._read_state()  # noqa: SLF001 - same module
        if state is None:
            print(f"no cluster in {cluster.base_dir}")
            return 3
        for i in range(cluster.n_brokers):
            pid = cluster.pid(i)
            print(f"node {i}: {'running pid ' + str(pid) if pid else 'stopped'}, "
                  f"client {HOST}:{state['client_ports'][i]}, "
                  f"controller {HOST}:{state['controller_ports'][i]}")
        ready = len(cluster.running()) == cluster.n_brokers and cluster.is_ready()
        print(f"ready: {'yes, bootstrap=' + cluster.connection.bootstrap if ready else 'no'}")
        return 0 if ready else 3
    except (LocalKafkaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
