"""The hub as the container image installs it: the Dockerfile's wheel, in a fresh venv outside the
repository (tests/deploy/dockerfile_steps.py; a session fixture, building and installing take
40-75 s), and helpers to start ``gigbridge`` commands from it.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy import dockerfile_steps
from tests.support.kafka_io import Background, free_port, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
READY_TIMEOUT_S = 90


@dataclass
class ImageInstall:
    wheel: Path
    venv: Path
    seconds: float  # build + install, measured

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@dataclass
class InstalledProcess:
    process: Background
    port: int
    cwd: Path


def clean_env(conn=None, **settings: str) -> dict[str, str]:
    """The environment of an installed hub process: the broker's connection (if any) and
    ``settings``, nothing of this test run's (no PYTHONPATH, no other GIGBRIDGE_* variable)."""
    base = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "JAVA_HOME")}
    return {**base, **(conn.as_env() if conn is not None else {}), **settings}


def start_installed(install: ImageInstall, conn, command: list[str], cwd: Path, port_env: str,
                    **settings: str) -> InstalledProcess:
    """``gigbridge <command>`` from the venv, in ``cwd``, with a free port in ``port_env``."""
    cwd.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = clean_env(conn, **{port_env: str(port)}, **settings)
    process = Background([install.bin("gigbridge"), *command], cwd.parent / f"{cwd.name}.log", env=env, cwd=cwd)
    return InstalledProcess(process.start(), port, cwd)


def http_status(port: int, path: str) -> int | None:
    """The HTTP status of ``GET http://127.0.0.1:<port><path>``; ``None`` when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_ready(proc: InstalledProcess, status_of, what: str) -> None:
    """Poll ``status_of(port)`` until it is 200; fail early with the log if the process exits."""
    def ready() -> bool:
        if proc.process.proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.process.proc.returncode}):\n{proc.process.log_tail()}")
        return status_of(proc.port) == 200

    try:
        wait_for(ready, READY_TIMEOUT_S, f"{what} ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{proc.process.log_tail()}") from None


@pytest.fixture(scope="session")
def image_install(tmp_path_factory) -> ImageInstall:
    """The Dockerfile's build stage and runtime pip steps, replayed in a scratch directory."""
    scratch = tmp_path_factory.mktemp("image")
    started = time.monotonic()
    wheel = dockerfile_steps.build_wheel(DOCKERFILE, REPO_ROOT, scratch / "build")
    venv = dockerfile_steps.install_wheel(DOCKERFILE, wheel, scratch / "runtime")
    return ImageInstall(wheel, venv, time.monotonic() - started)


def run_healthcheck(python: str, port: int) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command with ``python`` for the image's, for a worker on ``port``
    (test_dockerfile.py: nothing answers; test_wheel.py: the installed worker)."""
    _, (program, *args) = dockerfile_steps.healthcheck(DOCKERFILE)
    assert program == "python", "the check runs the image's python (slim has no curl)"
    return subprocess.run([python, *args], env=clean_env(GIGBRIDGE_WORKER_WEB_PORT=str(port)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
