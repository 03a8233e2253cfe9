"""Every command that talks to Kafka, pointed at a closed local port: one line on stderr, exit
code 3 (gigbridge.broker_errors), no traceback.  Real subprocesses, run in parallel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiokafka.errors import KafkaConnectionError as AioConnectionError
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from gigbridge.broker_errors import EXIT_BROKER_UNREACHABLE, is_broker_unreachable, report_unreachable

COMMANDS = {
    "publish": ["publish", "{events}", "--type", "sites"],
    "tail": ["tail", "hub.dlq", "--from", "beginning"],
    "topics ensure": ["topics", "ensure", "--platform", "swiftmeal"],
    "dlq redrive": ["dlq", "redrive", "hub.dlq", "--dry-run"],
    "access check": ["access", "check"],
    "access apply": ["access", "apply", "--dev", "--dry-run"],
    "simulate": ["simulate", "--count", "1"],
    "worker": ["worker"],
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    events = tmp_path_factory.mktemp("unreachable") / "events.jsonl"
    events.write_text("{}\n")
    bootstrap = f"127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIGBRIDGE_")}
    env |= {"GIGBRIDGE_KAFKA_BOOTSTRAP": bootstrap, "GIGBRIDGE_KAFKA_BOOTSTRAP_TIMEOUT_S": "1",
            "GIGBRIDGE_PRIVACY_MASTER_SECRET": "x" * 40, "GIGBRIDGE_LOG_FORMAT": "json"}

    def run(argv: list[str]) -> subprocess.CompletedProcess:
        argv = [arg.replace("{events}", str(events)) for arg in argv]
        return subprocess.run([sys.executable, "-m", "gigbridge.cli", *argv], env=env, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(max_workers=len(COMMANDS)) as pool:
        futures = {name: pool.submit(run, argv) for name, argv in COMMANDS.items()}
        results = {name: fut.result() for name, fut in futures.items()}
    return {name: (bootstrap, result) for name, result in results.items()}


@pytest.mark.parametrize("command", COMMANDS)
def test_unreachable_broker_is_one_line_and_exit_3(outcomes, command: str) -> None:
    bootstrap, result = outcomes[command]
    lines = result.stderr.splitlines()
    assert result.returncode == EXIT_BROKER_UNREACHABLE, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gigbridge: cannot reach the Kafka broker at {bootstrap}")
    assert "Traceback" not in result.stderr + result.stdout


def test_which_errors_count_as_unreachable(capsys) -> None:
    assert is_broker_unreachable(KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:1']"))
    assert is_broker_unreachable(AioConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]"))
    try:
        try:
            raise AioConnectionError("refused")
        except AioConnectionError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_broker_unreachable(outer)
    # a reachable cluster's errors keep their own handling
    assert not is_broker_unreachable(KafkaTimeoutError("Failed to update metadata after 60.0 secs."))
    assert not is_broker_unreachable(TopicAuthorizationFailedError())
    assert not is_broker_unreachable(ValueError("bootstrap"))
    assert report_unreachable("127.0.0.1:1", KafkaTimeoutError("Unable to bootstrap\nmore")) == 3
    assert capsys.readouterr().err == ("gigbridge: cannot reach the Kafka broker at 127.0.0.1:1 "
                                       "(GIGBRIDGE_KAFKA_BOOTSTRAP): KafkaTimeoutError: Unable to bootstrap\n")
