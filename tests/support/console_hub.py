"""A hub for the console's browser tests: a broker of its own (so it can be stopped, and the
screenshots show only this module's data), the worker, the console process, and the traffic of
one platform in two neighbouring townships of Beijing Chaoyang.

* Jianwai (建外街道, unit ``110105001-gov``) and Hujialou (呼家楼街道, unit ``110105003-gov``)
  each get a delivery station with a headcount, an incident, and a FACILITY case (routed by
  ``deploy/units.yaml`` to the township's own office).
* Jianwai gets a second incident and a second case for the keyboard and outage tests.

Everything the platform sends is checked by the hub as usual (the platform's ingest topics).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.kafka.cluster import LocalKafkaCluster
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.topics import ingest_topic
from tests.support.kafka_io import Background, HubProcess, free_port, onboard, producer, read_all, wait_for

PLATFORM = "consoleride"
JIANWAI, HUJIALOU = "110105001000", "110105003000"
JIANWAI_UNIT, HUJIALOU_UNIT = "110105001-gov", "110105003-gov"
TOKENS = {JIANWAI_UNIT: "jianwai-office-token-7c1e", HUJIALOU_UNIT: "hujialou-office-token-2b9d"}
CATALOG = default_catalog()


def _now_ms() -> int:
    return int(time.time() * 1000)


def site_id(division: str) -> str:
    return f"station-{division[6:9]}"


@dataclass
class ConsoleHub:
    cluster: LocalKafkaCluster
    worker: HubProcess
    console: Background
    console_port: int
    incidents: dict[str, str] = field(default_factory=dict)  # name -> incident_id
    cases: dict[str, str] = field(default_factory=dict)  # name -> case_id
    notice_id: str = ""

    @property
    def conn(self):
        return self.cluster.connection

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}/console"

    def records(self, topic: str, **match) -> list[dict]:
        """Decoded records of ``topic`` whose fields equal ``match``."""
        out = [decode(CATALOG, r.value).record for r in read_all(self.conn, topic)]
        return [r for r in out if all(r.get(k) == v for k, v in match.items())]


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def start_console_hub(base: Path) -> ConsoleHub:
    """Broker, worker and console, all up (the worker ready, the console answering)."""
    cluster = LocalKafkaCluster(base / "kafka", n_brokers=1, die_with_parent=True)
    conn = cluster.start(timeout=180)
    onboard(conn, PLATFORM)
    from gigbridge.topics_admin import TopicAdmin
    from tests.support.kafka_io import hub_settings

    admin = TopicAdmin(hub_settings(conn))
    try:  # what onboarding the platform and the two units creates (`gigbridge topics ensure`)
        admin.ensure([f"platform.{PLATFORM}.{t}" for t in ("cases", "case-events", "case-updates", "incident-acks", "measures")]
                     + [f"gov.units.{u}.{t}" for u in TOKENS for t in ("case-events", "incident-acks", "case-updates")])
    finally:
        admin.close()
    digests = json.dumps({u: hashlib.sha256(t.encode()).hexdigest() for u, t in TOKENS.items()})
    worker = HubProcess(conn, ["worker"], base, {
        "GIGBRIDGE_APP_ID": f"hub-console-{uuid.uuid4().hex[:8]}", "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
        "GIGBRIDGE_CASE_UNIT_TOKENS": digests}).start()
    port = free_port()
    console = Background([sys.executable, "-m", "connectors.console"], base / "console.log", {
        **os.environ, **conn.as_env(), "GIGBRIDGE_CONSOLE_HOST": "127.0.0.1", "GIGBRIDGE_CONSOLE_PORT": str(port),
        "GIGBRIDGE_CASE_UNIT_TOKENS": digests, "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "2",
        "GIGBRIDGE_CONSOLE_SESSION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}).start()
    hub = ConsoleHub(cluster, worker, console, port)
    # metrics() fails at once if the worker exited
    wait_for(lambda: worker.metrics() and _http_ok(f"http://127.0.0.1:{worker.port}/readyz"), 120, "the worker ready")
    wait_for(lambda: console.proc.poll() is None and _http_ok(f"http://127.0.0.1:{port}/healthz")
             or _exited(console), 60, "the console answering")
    return hub


def _exited(process: Background) -> bool:
    if process.proc is not None and process.proc.poll() is not None:
        raise AssertionError(f"the console exited ({process.proc.returncode}):\n{process.log_tail()}")
    return False


def stop_console_hub(hub: ConsoleHub) -> None:
    for process in (hub.console, hub.worker):
        process.stop()
    hub.cluster.stop()


def send_platform_traffic(hub: ConsoleHub) -> None:
    """Sites, headcounts, incidents and cases of both townships, acknowledged by the broker."""
    now = _now_ms()
    p = producer(hub.conn)

    def send(topic: str, contract: str, key: str, record: dict) -> None:
        p.send(topic, key=key.encode(), value=encode(CATALOG.contract(contract).latest, record)).get(30)

    hour_end = now - now % 3_600_000
    for division, name in ((JIANWAI, "jianwai"), (HUJIALOU, "hujialou")):
        site = site_id(division)
        send(ingest_topic(PLATFORM, "sites"), "site_event", site, {
            "event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": now - 3_600_000,
            "site_id": site, "action": "OPENED", "site_type": "DELIVERY_STATION", "division_code": division,
            "location": {"lat": 39.9087, "lon": 116.4605}, "capacity_workers": 60,
            "facilities": ["REST_AREA", "DRINKING_WATER", "CHARGING", "COOLING"]})
        for hours_back, active in ((2, 41), (1, 47)):
            end = hour_end - (hours_back - 1) * 3_600_000
            send(ingest_topic(PLATFORM, "headcounts"), "headcount_report", site, {
                "event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": now - 60_000,
                "site_id": site, "division_code": division, "period_start": end - 3_600_000, "period_end": end,
                "active_workers": active, "new_workers": 0, "departed_workers": 0, "employed_workers": 6,
                "non_standard_workers": 20, "independent_workers": active - 26, "insured_workers": active - 4,
                "long_hours_workers": None})
        for label in ((name, f"{name}-outage") if division == JIANWAI else (name,)):
            incident_id = f"inc-{label}-{uuid.uuid4().hex[:8]}"
            hub.incidents[label] = incident_id
            send(ingest_topic(PLATFORM, "incidents"), "incident_report", site, {
                "event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": now - 1_800_000,
                "incident_id": incident_id, "site_id": site, "division_code": division, "category": "HEAT_ILLNESS",
                "severity": "MINOR", "weather": "HEAT", "worker_ref": uuid.uuid4().hex * 2, "order_ref": None,
                "insured": True, "location": None, "reported_at": now - 1_700_000, "description": None})
        for label, category in (((name, "FACILITY"), (f"{name}-keyboard", "HOUSING")) if division == JIANWAI
                                else ((name, "FACILITY"),)):
            case_id = str(uuid.uuid4())
            hub.cases[label] = case_id
            send(f"platform.{PLATFORM}.cases", "concern_case", case_id, {
                "case_id": case_id, "source_kind": "PLATFORM", "source_id": PLATFORM, "platform_id": PLATFORM,
                "division_code": division, "category": category, "urgency": "URGENT", "worker_ref": None,
                "incident_id": None, "order_ref": None, "submitted_at": now - 600_000,
                "summary": "站点休息区夏季无饮用水和降温设施，骑手请求增设。" if category == "FACILITY"
                           else "骑手反映站点附近缺少可负担的集体宿舍。"})
    p.flush(30)
    p.close()


def send_heat_warning(hub: ConsoleHub) -> str:
    """An orange heat warning for Chaoyang through the hub's CAP intake (as ``POST /v1/alerts/cap``),
    once the worker knows the platform's open sites there (so the platform is concerned), and the
    platform's protection measure for it; returns the notice id."""
    import asyncio
    from datetime import datetime, timezone

    from gigbridge.divisions import default_table
    from gigbridge.simulator.notice_demo import heat_warning_cap
    from gigbridge.simulator.notices import SimulatedNoticeResponder
    from streams.runtime.notices.kafka_edges import kafka_intake
    from tests.support.kafka_io import hub_settings

    wait_for(lambda: read_all(hub.conn, "hub.validated.sites"), 60, "the worker validated the sites")
    cap = heat_warning_cap(f"11010541600000-{uuid.uuid4().hex[:8]}-HEAT", datetime.now(timezone.utc), 6, ("110105",))
    cap = cap.replace("深圳市气象台发布高温橙色预警信号（演示）".encode(), "北京市朝阳区气象台发布高温橙色预警信号".encode())
    cap = cap.replace("深圳市福田区、南山区、宝安区".encode(), "北京市朝阳区".encode())
    result = asyncio.run(kafka_intake(hub_settings(hub.conn), default_table().exists).submit(cap))
    assert result.problem is None and result.records, result.problem
    notice = result.records[0]
    wait_for(lambda: hub.records("gov.notices.11.status", notice_id=notice["notice_id"]), 60,
             "the platform concerned by the warning")
    [measure] = SimulatedNoticeResponder().measures(notice, [PLATFORM], _now_ms())
    at = _now_ms()
    p = producer(hub.conn)
    p.send(f"platform.{PLATFORM}.measures", key=notice["notice_id"].encode(),
           value=encode(CATALOG.contract("protection_measure").latest,
                        {**measure, "occurred_at": at, "effective_from": at, "effective_to": at + 6 * 3_600_000})).get(30)
    p.close()
    return notice["notice_id"]
