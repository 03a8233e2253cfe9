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

This module is the command line and re-exports the API callers use; the parts live beside it:
``connection`` (paths, admin account, :class:`KafkaConnection`), ``jvm`` (jars, ``java``, storage
format and broker commands), ``server_config`` (``server.properties``), ``cluster_state``
(``cluster.json``), ``probes`` (ports, readiness, processes) and ``cluster`` (:class:`LocalKafkaCluster`).

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

    python -m deploy.kafka.local up     [--dir DIR] [--brokers N] [--port P] [--env-file PATH] [--tls]
    python -m deploy.kafka.local down   [--dir DIR]
    python -m deploy.kafka.local status [--dir DIR]
    python -m deploy.kafka.local fetch  # only resolve the jars into the cache

The admin password defaults to ``admin-secret``; set ``GIGBRIDGE_KAFKA_PASSWORD`` (or pass
``password=``/``--password``) to change it.  The password is fixed when a directory is first
formatted; starting it later with a different one is refused with a clear error.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from deploy.kafka.cluster import LocalKafkaCluster
from deploy.kafka.cluster_state import read_state
from deploy.kafka.connection import (ADMIN_USER, DEFAULT_CLIENT_PORT, DEFAULT_DIR, DEFAULT_LIB_DIR, DEFAULT_PASSWORD,
                                     ENV_FILE, HOST, PASSWORD_ENV, KafkaConnection, LocalKafkaError, write_env_file)
from deploy.kafka.jvm import ensure_jars, find_java, start_kafka_process, storage_format_command


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
    "find_java",
    "start_kafka_process",
    "storage_format_command",
    "write_env_file",
]


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
            cmd.add_argument("--tls", action="store_true",
                             help="also listen with SASL_SSL (TLS) and SSL with client certificates (MTLS); "
                                  "CA and certificates in DIR/tls, the env file then uses SASL_SSL")
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
            cluster = LocalKafkaCluster.from_dir(args.dir, tls=args.tls, **kwargs)
            started = time.monotonic()
            conn = cluster.start(timeout=args.timeout)
            print(f"Kafka ready in {time.monotonic() - started:.1f}s: "
                  f"{cluster.n_brokers} node(s) in {cluster.base_dir}")
            if args.tls:
                mtls = cluster.mtls_connection()
                print(f"mTLS: bootstrap={mtls.bootstrap} cert={mtls.ssl_certfile} key={mtls.ssl_keyfile}")
                conn = cluster.tls_connection
            print(f"bootstrap={conn.bootstrap} security={conn.security_protocol}/{conn.sasl_mechanism} "
                  f"user={conn.username}" + (f" ca={conn.ssl_cafile}" if conn.ssl_cafile else ""))
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
        state = read_state(cluster.base_dir)
        if state is None:
            print(f"no cluster in {cluster.base_dir}")
            return 3
        for i in range(cluster.n_brokers):
            pid = cluster.pid(i)
            print(f"node {i}: {'running pid ' + str(pid) if pid else 'stopped'}, "
                  f"client {HOST}:{state['client_ports'][i]}, "
                  f"controller {HOST}:{state['controller_ports'][i]}"
                  + (f", TLS {HOST}:{state['tls_ports'][i]}, MTLS {HOST}:{state['mtls_ports'][i]}"
                     if "tls_ports" in state else ""))
        ready = len(cluster.running()) == cluster.n_brokers and cluster.is_ready()
        print(f"ready: {'yes, bootstrap=' + cluster.connection.bootstrap if ready else 'no'}")
        return 0 if ready else 3
    except (LocalKafkaError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
