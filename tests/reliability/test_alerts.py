"""The alerts of ``deploy/prometheus/rules/gigbridge.yml`` fire in real fault scenarios, and
only those: a worker streams simulated traffic, its ``/metrics`` is scraped once a second, a
fault is injected, and the scrapes are replayed through ``promtool`` (time stretched 30-fold,
rates kept: see ``tests/reliability/alert_replay.py``) until the expected alerts fire.

Per scenario: no alert is firing at the end of the healthy phase; at the end of the fault the
expected alerts fire, and no others but :data:`BACKGROUND`. The summary notes when each one
started firing, in seconds of the scenario and in minutes of rule time (what
docs/operations.md reports).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.reliability import alert_replay as replay
from tests.reliability.alert_replay import alert
from tests.reliability.harness import FULL_SUITE_ONLY, SEED, SimEndpoint, Worker, onboard_platforms, record, unique
from tests.support.kafka_io import wait_for
from tests.support.ledger import Traffic, delete_platform_topics

# A broker of each scenario's own (tests/reliability/conftest.py): the alerts read the worker's
# metrics as a whole, and a worker reads every platform.* topic there is from the beginning, so
# on a shared broker other runs' leftovers (garbage, old events) would raise alerts of their own.
pytestmark = [pytest.mark.reliability, pytest.mark.kafka, pytest.mark.parametrize("own_cluster", [1], indirect=True)]

HEALTHY_S = 15          # 7.5 min of rule time
FAULT_DEADLINE_S = 75   # 37.5 min of rule time: longer than any for: + window of the rules
RATE = 40               # events/s of the simulated platform
SECRET = "insurer-44-alerts-secret"
# Alerts the simulated traffic raises by itself after ~10 min of rule time, whatever the fault:
# a replay has no previous day to compare severe incidents with (counted as 0, so >= 5 an hour
# in a province is a "spike"). The latency alert is on the hub's own latency (Kafka timestamp ->
# acknowledged), so the simulator's late incident reports (occurred_at up to an hour before)
# do not raise it: it is not tolerated here.
BACKGROUND = {"GigbridgeSevereIncidentSpike"}


@pytest.fixture(autouse=True)
def _promtool():
    if shutil.which("promtool") is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (make test installs the Debian package prometheus: scripts/ensure-tools.sh)")
        pytest.skip("promtool not installed")


class Scenario:
    """A worker with simulated traffic, scraped; ``fault()`` is injected after the healthy phase."""

    def __init__(self, conn, tmp_path, name: str, *, worker_env: dict | None = None, provinces=None) -> None:
        self.conn, self.tmp_path, self.name = conn, tmp_path, name
        self.platform = unique(f"alert-{name}")
        onboard_platforms(conn, [self.platform])
        # The traffic reports insured incidents (up to 6 h old) but no orders. From 18:00 UTC (midnight
        # China time + the 2 h grace) until 22:00 UTC the cover stage rightly reports the previous
        # day's ones as cover gaps, and GigbridgeCoverGaps fired during the healthy phase (CI at
        # 18:28 UTC). With a week's grace no day closes within a scenario, whatever the time.
        env = {"GIGBRIDGE_COVER_GRACE_S": str(7 * 86_400), **(worker_env or {})}
        self.worker = Worker(conn, tmp_path, unique(f"rel-alert-{name}"), env).start()
        self.traffic = Traffic(conn, [self.platform], seed=SEED + 11, invalid_share=0.0, provinces=provinces)
        self.scraper = replay.Scraper(lambda: self.worker.port)

    def run(self, fault, expected: set[tuple]) -> dict:
        """Healthy phase, ``fault()``, then scrape until ``expected`` fires (or the deadline)."""
        self.worker.wait_subscribed(3)
        self.traffic.stream(n=10**7, rate=RATE)
        wait_for(lambda: self.worker.received() >= RATE, 60, "traffic flowing through the worker")
        self.scraper.start()
        wait_for(lambda: self.scraper.step >= HEALTHY_S, HEALTHY_S + 30, "healthy phase scraped")
        fault_step = self.scraper.mark("fault")
        fault()

        def fired() -> bool:
            scrapes = list(self.scraper.scrapes)
            last = scrapes[-1].step
            return last > fault_step and expected <= replay.firing(
                replay.alert_states(scrapes, [last], self.tmp_path)[last])

        try:
            wait_for(fired, FAULT_DEADLINE_S, f"{replay.describe(expected)} firing", interval=3)
        finally:
            self.scraper.stop()
        scrapes = self.scraper.scrapes
        last = scrapes[-1].step
        states = replay.alert_states(scrapes, list(range(fault_step - 1, last + 1)), self.tmp_path)
        first = {}
        for step in range(fault_step, last + 1):
            for a in replay.firing(states[step]):
                first.setdefault(a, step - fault_step)
        return {"healthy": states[fault_step - 1], "final": replay.firing(states[last]), "first": first,
                "fault_s": last - fault_step}

    def close(self) -> None:
        self.scraper.stop()
        self.traffic.close()
        self.worker.stop()
        delete_platform_topics(self.conn, [self.platform])


def _run(what: str, s: Scenario, fault, expected: set[tuple], seconds, before_close=(), after_close=()) -> None:
    """Run the scenario, clean up, record and check the result."""
    try:
        result = s.run(fault, expected)
    finally:
        for step in before_close:
            step()
        s.close()
        for step in after_close:
            step()
    fired = "; ".join(f"{replay.describe({a})[0]} after {t}s ({t * replay.STRETCH / 60:.1f} min rule time)"
                      for a, t in sorted(result["first"].items(), key=lambda kv: kv[1]))
    record(f"alerts: {what}", None, seconds(), f"fired: {fired or 'nothing'}; at the end of the fault "
           f"({result['fault_s']}s): {replay.describe(result['final'])}")
    assert not replay.firing(result["healthy"]), f"firing while healthy: {replay.describe(result['healthy'])}"
    others = {a for a in result["final"] - expected if replay.name_of(a) not in BACKGROUND}
    assert expected <= result["final"] and not others, (replay.describe(result["final"]), replay.describe(expected))


def test_worker_killed_fires_worker_down(own_cluster, tmp_path, scenario_timer):
    s = Scenario(own_cluster.connection, tmp_path, "kill")
    _run("worker kill -9", s, s.worker.kill, {alert("GigbridgeWorkerDown", severity="critical")}, scenario_timer)


def test_hostile_input_fires_reject_ratio_and_dlq_growing(own_cluster, tmp_path, scenario_timer):
    s = Scenario(own_cluster.connection, tmp_path, "hostile")

    def fault() -> None:  # from now on 40 % broken events, a seventh of them undecodable bytes
        s.traffic.sim.invalid_share = 0.4

    _run("hostile input (40 % broken)", s, fault, {
        alert("GigbridgeRejectRatioHigh", severity="warning", platform=s.platform),
        alert("GigbridgeDLQGrowing", severity="warning", topic="hub.dlq")}, scenario_timer)


@pytest.mark.parametrize("mode, what, expected", [
    ("down", "insurer endpoint down",
     {alert("GigbridgeSinkFailing", severity="critical", cause="paused", sink="insurer-44"),
      alert("GigbridgeSinkFailing", severity="warning", cause="retries", sink="insurer-44")}),
    # the DLQ alert fires in make test's hostile-input scenario already; this one is the full set's
    pytest.param("400", "insurer refuses every claim (400)",
                 {alert("GigbridgeDLQGrowing", severity="warning", topic="gov.insurance.44.dlq")},
                 marks=FULL_SUITE_ONLY),
], ids=["down", "refusing"])
def test_insurer_faults_fire_sink_alerts(own_cluster, tmp_path, scenario_timer, mode, what, expected):
    endpoint = SimEndpoint(tmp_path, SECRET)
    s = Scenario(own_cluster.connection, tmp_path, f"ins{mode}", provinces=["44"], worker_env={  # sites: Guangdong
        "GIGBRIDGE_INSURER_ENDPOINTS": json.dumps({"44": {"url": f"{endpoint.url}/claims", "secret": SECRET}}),
        "GIGBRIDGE_SINK_MAX_BACKOFF_S": "2", "GIGBRIDGE_SINK_TIMEOUT_S": "1"})
    _run(what, s, lambda: endpoint.control(mode=mode), expected, scenario_timer, after_close=[endpoint.stop])


@FULL_SUITE_ONLY  # 90 s; make test stops and restarts the broker in test_broker_faults.py
def test_broker_stopped_fires_not_ready_and_no_traffic(own_cluster, tmp_path, scenario_timer):
    s = Scenario(own_cluster.connection, tmp_path, "broker")
    # The worker keeps answering scrapes, /readyz turns 503 ("kafka unreachable") after 15 s:
    # GigbridgeWorkerNotReady fires well before GigbridgeNoTraffic, which bounds the run time.
    # The broker comes back before the clean-up: the platform's producer and the topic deletion need it.
    _run("broker stopped", s, lambda: own_cluster.stop_broker(0),
         {alert("GigbridgeWorkerNotReady", severity="critical"), alert("GigbridgeNoTraffic", severity="warning")},
         scenario_timer, before_close=[lambda: own_cluster.start_broker(0)])
