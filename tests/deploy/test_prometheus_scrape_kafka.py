"""A real Prometheus (Debian package) scrapes a running worker fed by the simulator; its query
API reports received and routed event rates above zero."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
import uuid

import pytest

from gigbridge.settings import Settings
from tests.support.kafka_io import HubProcess, free_port, wait_for

pytestmark = pytest.mark.kafka


def _query(port: int, promql: str) -> float:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            result = json.loads(resp.read())["data"]["result"]
    except OSError:
        return 0.0
    return sum(float(r["value"][1]) for r in result)


def test_prometheus_scrapes_a_running_worker(kafka, tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is not installed (make test installs the Debian package: scripts/ensure-tools.sh)")
        pytest.skip("prometheus not installed; make test installs it")
    hub = HubProcess(kafka, ["worker"], tmp_path, {"GIGBRIDGE_APP_ID": f"hub-prom-{uuid.uuid4().hex[:8]}",
                                                   "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2"})
    settings = Settings(kafka_bootstrap=kafka.bootstrap, kafka_username=kafka.username, kafka_password=kafka.password)
    stop = threading.Event()
    from gigbridge.simulator.run import ensure_platform_topics, run_simulation

    ensure_platform_topics(settings, ["swiftmeal"])
    hub.start()
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: gigbridge-worker
    static_configs: [{{targets: ["127.0.0.1:{hub.port}"]}}]
""")
    prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"))
    sim = threading.Thread(target=run_simulation, args=(settings,),
                           kwargs={"rate": 50, "duration_s": 120, "platforms": 1, "should_stop": stop.is_set})
    try:
        wait_for(lambda: hub.metric("gigbridge_subscribed_ingest_topics") >= 3, 90, "worker subscribed")
        sim.start()
        wait_for(lambda: _query(prom_port, 'up{job="gigbridge-worker"}') == 1, 60, "Prometheus scraping the worker")
        wait_for(lambda: _query(prom_port, "sum(rate(gigbridge_events_received_total[15s]))") > 0, 90,
                 "a received-events rate in Prometheus")
        wait_for(lambda: _query(prom_port, 'sum(rate(gigbridge_routed_total{destination="office"}[15s]))') > 0, 60,
                 "a routed-events rate in Prometheus")
    finally:
        stop.set()
        if sim.is_alive():
            sim.join(30)
        prom.terminate()
        prom.wait(30)
        hub.stop()
