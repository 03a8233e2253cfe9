"""Marker registration, the per-scenario timer, a cluster of a test's own, and the ledger
summary at the end of the run (helpers live in ``tests/reliability/harness.py``)."""

from __future__ import annotations

import shutil
import time

import pytest

from deploy.kafka.local import LocalKafkaCluster
from tests.reliability.harness import SUMMARY


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "reliability: fault-injection and fuzz tests with a ledger of every "
                                       "input offset (reduced in CI; `make test-reliability` runs the full set)")


def pytest_terminal_summary(terminalreporter) -> None:
    if not SUMMARY:
        return
    tr = terminalreporter
    tr.section("reliability ledger")
    head = f"{'scenario':<34} {'inputs':>7} {'routed':>7} {'rejected':>8} {'dlq':>6} {'lost':>5} {'dups':>5} " \
           f"{'claims':>11} {'time_s':>7}  note"
    tr.write_line(head)
    for name, rep, seconds, note in SUMMARY:
        if rep is None:
            tr.write_line(f"{name:<34} {'':>7} {'':>7} {'':>8} {'':>6} {'':>5} {'':>5} {'':>11} {seconds:>7.1f}  {note}")
            continue
        claims = f"{rep.claims}/{rep.claims_expected}" if rep.claims_expected else "-"
        tr.write_line(f"{name:<34} {rep.inputs:>7} {rep.routed:>7} {rep.rejected:>8} {rep.dlq:>6} {rep.lost:>5} "
                      f"{rep.duplicates:>5} {claims:>11} {seconds:>7.1f}  {note}")


@pytest.fixture
def own_cluster(tmp_path_factory, request):
    """A cluster of the test's own in a tmp dir (never the session broker), ``n`` brokers
    (indirect parameter), stopped and removed after."""
    base = tmp_path_factory.mktemp("kafka")
    cluster = LocalKafkaCluster(base, n_brokers=request.param, die_with_parent=True)
    try:
        cluster.start(timeout=180)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def scenario_timer():
    started = time.monotonic()
    return lambda: time.monotonic() - started


