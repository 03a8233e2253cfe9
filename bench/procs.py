"""Processes under test: the hub worker and the passthrough baseline as subprocesses, and their
CPU and memory read straight from ``/proc`` (Linux; no psutil needed)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
from pathlib import Path

from bench.common import REPO_ROOT, python_executable

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads) in seconds; 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def proc_runqueue_wait_seconds(pid: int) -> float:
    """Seconds the threads of ``pid`` spent runnable but waiting for a CPU (schedstat field 2,
    summed over all threads): CPU starvation, as opposed to waiting for I/O or a broker."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, summed over all cores."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in kB; empty if it is gone."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subprocess:
    """A Python child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Subprocess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO_ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; last log lines:\n"
                               f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def hub_process(conn, workdir: Path, name: str, extra_env: dict[str, str] | None = None,
                module: str = "gigbridge.cli") -> Subprocess:
    """``gigbridge worker`` with a fresh app id (consumer group, dedupe store and log), data dir and web
    port, full validation, privacy (a random master secret) and routing: the production path."""
    app_id = f"bench-{name}-{secrets.token_hex(4)}"
    env = {**os.environ, **conn.as_env(),
           "GIGBRIDGE_APP_ID": app_id,
           # The dedupe store lives under <data dir>/<app id>; one data dir per app anyway.
           "GIGBRIDGE_DATA_DIR": str(workdir / f"{app_id}-data"),
           "GIGBRIDGE_WORKER_WEB_PORT": str(free_port()),
           "GIGBRIDGE_PRIVACY_MASTER_SECRET": secrets.token_hex(32),
           "GIGBRIDGE_LOG_FORMAT": "json",
           **(extra_env or {})}
    argv = [python_executable(), "-m", module, "worker"]
    return Subprocess(name, argv, env, workdir / f"{name}.log")


def passthrough_process(conn, workdir: Path, sources: list[str], target: str) -> Subprocess:
    """The raw aiokafka consume -> produce copy (``bench/passthrough.py``)."""
    env = {**os.environ, **conn.as_env()}
    argv = [python_executable(), "-m", "bench.passthrough", "--group", f"bench-pass-{secrets.token_hex(4)}",
            "--target", target, *sources]
    return Subprocess("baseline", argv, env, workdir / "baseline.log")
