"""``<base_dir>/cluster.json`` of a local Kafka cluster (``deploy.kafka.local``): the cluster id,
node count, ports and admin password fingerprint, fixed on first start and checked on every later one."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from pathlib import Path

from deploy.kafka.connection import LocalKafkaError
from deploy.kafka.probes import free_ports


def fixed_ports(port: int, n_brokers: int) -> dict:
    """Client ports ``port+i`` and controller ports ``port+n_brokers+i`` of nodes ``0 <= i < n_brokers``."""
    n = n_brokers
    return {"client_ports": [port + i for i in range(n)],
            "controller_ports": [port + n + i for i in range(n)]}


def read_state(base_dir: Path) -> dict | None:
    """The recorded state of ``base_dir``, or ``None`` if it was never started."""
    try:
        return json.loads((base_dir / "cluster.json").read_text())
    except FileNotFoundError:
        return None


def save_state(base_dir: Path, state: dict) -> None:
    """Replace ``cluster.json`` atomically."""
    base_dir.mkdir(parents=True, exist_ok=True)
    tmp = base_dir / "cluster.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, base_dir / "cluster.json")


def load_or_create_state(base_dir: Path, n_brokers: int, requested_port: int | None, password: str,
                         tls: bool) -> dict:
    """The state of ``base_dir``, created (ports fixed from ``requested_port``, or free ones) if
    missing.  Raises :class:`LocalKafkaError` if an existing state disagrees with the node count,
    the requested port or the password; adds TLS ports once if ``tls`` is asked for."""
    fingerprint = _fingerprint(password)
    state = read_state(base_dir)
    if state is None:
        if requested_port is not None:
            ports = fixed_ports(requested_port, n_brokers)
        else:
            free = free_ports(2 * n_brokers)
            ports = {"client_ports": free[:n_brokers], "controller_ports": free[n_brokers:]}
        state = {"cluster_id": _new_cluster_id(), "n_brokers": n_brokers,
                 "password_fingerprint": fingerprint, **ports}
        save_state(base_dir, state)
    else:
        where = base_dir / "cluster.json"
        if state["n_brokers"] != n_brokers:
            raise LocalKafkaError(f"{where} describes {state['n_brokers']} broker(s), not "
                                  f"{n_brokers}; use that count or another directory")
        if (requested_port is not None
                and state["client_ports"] != fixed_ports(requested_port, n_brokers)["client_ports"]):
            raise LocalKafkaError(f"{where} uses client ports {state['client_ports']}, not "
                                  f"{requested_port}+; use those or another directory")
        if state["password_fingerprint"] != fingerprint:
            raise LocalKafkaError(f"{base_dir} was formatted with a different admin password; "
                                  "pass the original one (GIGBRIDGE_KAFKA_PASSWORD) or remove the "
                                  "directory to start from scratch")
    if tls and "tls_ports" not in state:
        state = {**state, **_tls_ports(state)}
        save_state(base_dir, state)
    return state


def _tls_ports(state: dict) -> dict:
    """Ports of the TLS and MTLS listeners: after the controller ports for a cluster on fixed
    ports (19094/19095 for one node on 19092), free ones otherwise."""
    n = state["n_brokers"]
    first = state["client_ports"][0]
    if state["controller_ports"] == fixed_ports(first, n)["controller_ports"]:
        return {"tls_ports": [first + 2 * n + i for i in range(n)],
                "mtls_ports": [first + 3 * n + i for i in range(n)]}
    free = free_ports(2 * n)
    return {"tls_ports": free[:n], "mtls_ports": free[n:]}


def _new_cluster_id() -> str:
    """A Kafka-style cluster id (url-safe base64 of a random UUID, never starting with '-')."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _fingerprint(password: str) -> str:
    return hashlib.sha256(f"gigbridge-local-kafka:{password}".encode()).hexdigest()
