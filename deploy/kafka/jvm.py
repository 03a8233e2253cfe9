"""The Kafka JVMs of the local cluster: the jars (Maven), a Java 17+ ``java``, and the two commands
run with them, ``StorageTool format`` and ``kafka.Kafka`` (see ``deploy.kafka.local``)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from deploy.kafka.connection import ADMIN_USER, DEFAULT_LIB_DIR, LocalKafkaError

POM = Path(__file__).resolve().with_name("pom.xml")
LOG4J_CONFIG = Path(__file__).resolve().with_name("log4j2.yaml")

#: JVM flags for every node; small heap, G1, die on OOM instead of limping along.
JVM_OPTS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

_MARKER = ".pom.sha256"


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
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail_text(proc.stdout, 40)}")
        (scratch / _MARKER).write_text(digest + "\n")
        shutil.rmtree(lib_dir, ignore_errors=True)
        scratch.rename(lib_dir)
    return lib_dir


def find_java() -> str:
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


def storage_format_command(java: str, lib: Path, config: Path, cluster_id: str,
                           scram_users: Mapping[str, str]) -> list[str]:
    """``kafka-storage format`` of the node configured by ``config``, with a SCRAM-SHA-512
    credential per ``{user: password}`` written into the bootstrap metadata (the KRaft way: the
    users exist before any listener accepts a connection, so the brokers can authenticate)."""
    cmd = [java, "-Xmx256m", "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format",
           "--config", str(config), "--cluster-id", cluster_id]
    for user, password in scram_users.items():
        cmd += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
    return cmd


def start_kafka_process(java: str, lib: Path, config: Path, node_dir: Path, label: str,
                        die_with_parent: bool) -> subprocess.Popen:
    """Start ``kafka.Kafka config`` in its own session, logging to ``node_dir/logs`` (log4j) and
    ``node_dir/kafka.out`` (stdout/stderr); returns at once (readiness is the caller's).
    ``die_with_parent``: see :class:`LocalKafkaCluster`."""
    cmd = [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
           f"-Dkafka.logs.dir={node_dir / 'logs'}", "-cp", f"{lib}/*", "kafka.Kafka", str(config)]
    with open(node_dir / "kafka.out", "ab") as out:
        out.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {label}\n".encode())
        out.flush()
        return subprocess.Popen(cmd, cwd=node_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_pdeathsig_hook() if die_with_parent else None)



def format_storage(node_dirs: Mapping[int, Path], java: str, lib: Path, cluster_id: str, password: str) -> None:
    """Format the storage (``<node dir>/data``) of the given nodes that have no ``meta.properties``
    yet, in parallel; each node's ``server.properties`` must already be written.

    The admin SCRAM credential is written into the bootstrap metadata, so it exists before any
    listener accepts connections (brokers need it to authenticate to each other).  Raises
    :class:`LocalKafkaError` if a node's data belongs to another cluster id or formatting fails."""
    pending = {}
    for i, node_dir in node_dirs.items():
        meta = node_dir / "data" / "meta.properties"
        if meta.exists():
            found = read_properties(meta).get("cluster.id")
            if found != cluster_id:
                raise LocalKafkaError(
                    f"{meta} belongs to cluster {found}, but {node_dir.parent / 'cluster.json'} says "
                    f"{cluster_id}; remove {node_dir.parent} to start over")
            continue
        cmd = storage_format_command(java, lib, node_dir / "server.properties", cluster_id, {ADMIN_USER: password})
        pending[i] = subprocess.Popen(cmd, cwd=node_dir, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures = []
    for i, proc in pending.items():
        output, _ = proc.communicate()
        if proc.returncode != 0 or not (node_dirs[i] / "data" / "meta.properties").exists():
            failures.append(f"formatting {node_dirs[i] / 'data'} failed (exit {proc.returncode}):\n"
                            f"{tail_text(output, 30)}")
    if failures:
        raise LocalKafkaError("\n".join(failures))


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


def read_properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def read_tail(path: Path, max_bytes: int = 64 * 1024) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - max_bytes))
        return fh.read().decode(errors="replace")


def tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
