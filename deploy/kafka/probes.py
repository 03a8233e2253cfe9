"""Probes of the local machine for ``deploy.kafka.local``: free ports on 127.0.0.1, whether a Kafka
listener answers and its cluster lists every broker, and which processes are alive."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
from pathlib import Path

from deploy.kafka.connection import HOST, KafkaConnection, LocalKafkaError


def describe_brokers(conn: KafkaConnection, timeout: float) -> list[dict]:
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


def api_versions_ok(host: str, port: int, timeout: float) -> bool:
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


def free_ports(count: int) -> list[int]:
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


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are fine
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def process_cmdline(pid: int) -> str | None:
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


def send_signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
