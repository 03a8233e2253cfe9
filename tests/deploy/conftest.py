"""The hub as the container image installs it: the Dockerfile's wheel, in a fresh venv outside the
repository (tests/deploy/dockerfile_steps.py), and a worker started from it in an empty directory.

Both are session fixtures: building and installing take ~40 s (pip's cache makes the install of
the dependencies a copy), so test_wheel.py and test_dockerfile.py share them.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def installed_worker(image_install, kafka, tmp_path_factory) -> Iterator[InstalledProcess]:
    """``gigbridge worker`` from the installed wheel, started in an empty directory with default
    settings (only the broker, a free web port and an app id of its own are set), once ready."""
    cwd = tmp_path_factory.mktemp("installed") / "worker"
    proc = start_installed(image_install, kafka, ["worker"], cwd, "GIGBRIDGE_WORKER_WEB_PORT",
                           GIGBRIDGE_APP_ID=f"installed-{uuid.uuid4().hex[:8]}")
    try:
        wait_ready(proc, lambda port: http_status(port, "/readyz"), "installed worker")
        yield proc
    finally:
        proc.process.stop()
