"""The local Kafka cluster's JVMs and their lifecycle (start, stop, kill, readiness); the command line
and the overview are in ``deploy.kafka.local``."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from deploy.kafka.cluster_state import fixed_ports, load_or_create_state, read_state
from deploy.kafka.connection import (ADMIN_USER, DEFAULT_LIB_DIR, DEFAULT_PASSWORD, HOST, PASSWORD_ENV,
                                     KafkaConnection, LocalKafkaError)
from deploy.kafka.jvm import POM, ensure_jars, find_java, format_storage, read_tail, start_kafka_process, tail_text
from deploy.kafka.probes import api_versions_ok, describe_brokers, port_free, process_cmdline, send_signal
from deploy.kafka.server_config import server_properties

# Characters that survive JAAS quoting and StorageTool's --add-scram parser unescaped.
_PASSWORD_RE = re.compile(r"[A-Za-z0-9._~!@#%^*+:/?-]{1,128}")


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
                 die_with_parent: bool = False, tls: bool = False) -> None:
        """Describe a cluster; does no I/O (nothing is created or started before :meth:`start`).

        ``password`` defaults to ``$GIGBRIDGE_KAFKA_PASSWORD`` or ``admin-secret``; ``lib_dir`` to the
        shared jar cache ``.local/kafka/lib``.  ``tls`` adds the ``TLS`` (SASL_SSL) and ``MTLS``
        (SSL, client certificate required) listeners of ``deploy.kafka.tls``, with a CA and
        certificates generated into ``<base_dir>/tls`` on first start.
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
        self.tls = tls
        self.pki_dir = self.base_dir / "tls"
        self._requested_port = client_port
        self._state: dict | None = None
        self._procs: dict[int, subprocess.Popen] = {}

    @classmethod
    def from_dir(cls, base_dir: Path, **kwargs) -> LocalKafkaCluster:
        """A cluster object for an existing directory, taking ``n_brokers`` from its ``cluster.json``."""
        state = read_state(Path(base_dir))
        if state is not None:
            kwargs.setdefault("n_brokers", state["n_brokers"])
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

    @property
    def tls_connection(self) -> KafkaConnection:
        """The admin super-user over the ``TLS`` listener (SASL_SSL + SCRAM); needs ``tls=True``, started."""
        from deploy.kafka.tls import local_pki

        return KafkaConnection(bootstrap=self._tls_bootstrap("tls_ports"), username=ADMIN_USER,
                               password=self.password, security_protocol="SASL_SSL",
                               ssl_cafile=str(local_pki(self.pki_dir).ca.cert))

    def mtls_connection(self, certfile: Path | None = None, keyfile: Path | None = None) -> KafkaConnection:
        """A connection to the ``MTLS`` listener authenticated by a client certificate (default: the
        generated one for the admin super-user); the principal is the certificate's CN."""
        from deploy.kafka.tls import local_pki

        pki = local_pki(self.pki_dir)
        return KafkaConnection(bootstrap=self._tls_bootstrap("mtls_ports"), username="", password="",
                               security_protocol="SSL", ssl_cafile=str(pki.ca.cert),
                               ssl_certfile=str(certfile or pki.client.cert),
                               ssl_keyfile=str(keyfile or pki.client.key))

    def _tls_bootstrap(self, key: str) -> str:
        ports = self._ports().get(key)
        if not ports:
            raise LocalKafkaError(f"{self.base_dir} has no TLS listeners; start it with tls=True (`up --tls`)")
        return ",".join(f"{HOST}:{p}" for p in ports)

    def _ports(self) -> dict:
        if self._state is not None:
            return self._state
        if self._requested_port is not None:
            return fixed_ports(self._requested_port, self.n_brokers)
        state = read_state(self.base_dir)
        if state is None:
            raise LocalKafkaError("ports are picked on first start(); call start() first")
        return state

    def _load_or_create_state(self) -> dict:
        self._state = load_or_create_state(self.base_dir, self.n_brokers, self._requested_port, self.password,
                                           self.tls)
        return self._state

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
        if self.tls:
            from deploy.kafka.tls import ensure_local_pki

            ensure_local_pki(self.pki_dir, client_cn=ADMIN_USER)
        lib = ensure_jars(self.lib_dir, POM)
        java = find_java()
        launched = []
        try:
            todo = []
            for i in range(self.n_brokers):
                self._write_config(i, state)
                if self._pid(i) is None:
                    todo.append(i)
            format_storage({i: self.broker_dir(i) for i in todo}, java, lib, state["cluster_id"], self.password)
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
        if self._state is None and read_state(self.base_dir) is None:
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
            send_signal(pid, signal.SIGKILL)
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
            java = find_java()
            self._write_config(i, state)
            format_storage({i: self.broker_dir(i)}, java, lib, state["cluster_id"], self.password)
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

    # -- config ----------------------------------------------------------------------------------

    def _write_config(self, i: int, state: dict) -> Path:
        bdir = self.broker_dir(i)
        (bdir / "logs").mkdir(parents=True, exist_ok=True)
        path = bdir / "server.properties"
        text = server_properties(i, state, self.password, self.broker_dir(i) / "data",
                                 self.pki_dir if self.tls else None)
        if not path.exists() or path.read_text() != text:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the password
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
        return path

    # -- processes -----------------------------------------------------------------------------

    def _launch(self, i: int, java: str, lib: Path) -> None:
        bdir = self.broker_dir(i)
        state = self._state
        busy = [p for p in (state["client_ports"][i], state["controller_ports"][i]) if not port_free(p)]
        if busy:
            raise LocalKafkaError(f"cannot start node {i}: port(s) {busy} on {HOST} are already in use "
                                  "by another process (is another Kafka running? see `status`)")
        proc = start_kafka_process(java, lib, bdir / "server.properties", bdir, f"node {i}", self.die_with_parent)
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
        cmdline = process_cmdline(pid)
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
                send_signal(pid, signal.SIGTERM)
        if not self._await_exit(indexes, time.monotonic() + timeout):
            for i in indexes:
                pid = self._pid(i)
                if pid is not None:
                    send_signal(pid, signal.SIGKILL)
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
            if not api_versions_ok(HOST, ports[i], timeout):
                return False
        brokers = describe_brokers(self.connection, timeout)
        unfenced = {b["broker_id"] for b in brokers if not b.get("is_fenced", False)}
        return set(expected) <= unfenced

    def _log_tail(self, i: int, lines: int = 25) -> str:
        parts = []
        for path in (self.broker_dir(i) / "kafka.out", self.log_file(i)):
            if path.exists():
                parts.append(f"--- {path} (last {lines} lines) ---\n{tail_text(read_tail(path), lines)}")
        return "\n".join(parts) or f"(no logs for node {i})"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
