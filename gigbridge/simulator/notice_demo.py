"""The weather-warning part of ``make run``: a CAP heat warning for a few Shenzhen counties
arrives, the simulated platforms with sites there answer (one in time, one late, one never),
and each platform announces an algorithm-rule change (one without the required consultation,
which the hub refuses).

Timeline (seconds after start): open one site per platform in each county; at ``warn_after_s``
the warning goes through the same intake as ``POST /v1/alerts/cap``; ``answer_after_s`` later
the first platform answers; the second answers ``answer_after_s`` after the overdue time
(``settings.notice_overdue_after_s``); the third never does. A demo: it paces itself with
``sleep`` (injected) and stops early when ``should_stop()``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from kafka import KafkaProducer

from gigbridge.divisions import default_table
from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.simulator.notices import SimulatedNoticeResponder
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.topics import ingest_topic
from streams.runtime.notices.kafka_edges import kafka_intake

log = get_logger("gigbridge.simulate.notices")

DEMO_COUNTIES = ("440304", "440305", "440306")  # Shenzhen: Futian, Nanshan, Bao'an
CHINA = timezone(timedelta(hours=8))


def heat_warning_cap(identifier: str, sent: datetime, hours: int, counties: tuple[str, ...]) -> bytes:
    """A CAP 1.2 heat warning (orange) as the Shenzhen meteorological service would send it."""
    stamp = sent.astimezone(CHINA).replace(microsecond=0)
    geocodes = "".join(f"<geocode><valueName>GB/T 2260</valueName><value>{c}</value></geocode>" for c in counties)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>sz-meteorological-service@cma.example</sender>
  <sent>{stamp.isoformat()}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>高温</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <onset>{stamp.isoformat()}</onset>
    <expires>{(stamp + timedelta(hours=hours)).isoformat()}</expires>
    <headline>深圳市气象台发布高温橙色预警信号（演示）</headline>
    <parameter><valueName>预警级别</valueName><value>橙色</value></parameter>
    <area><areaDesc>深圳市福田区、南山区、宝安区</areaDesc>{geocodes}</area>
  </info>
</alert>
""".encode()


def _site(platform: str, county: str, now_ms: int) -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": platform, "occurred_at": now_ms,
            "site_id": f"demo-{platform}-{county}", "action": "OPENED", "site_type": "DELIVERY_STATION",
            "division_code": county + "000000", "location": None, "facilities": ["REST_AREA", "COOLING"],
            "capacity_workers": 30}


def _headcount(platform: str, county: str, now_ms: int, active: int = 200) -> dict:
    """The latest active workers of a demo site (the injury rates' denominator)."""
    end = now_ms - now_ms % 3_600_000
    return {"event_id": str(uuid.uuid4()), "platform_id": platform, "occurred_at": now_ms,
            "site_id": f"demo-{platform}-{county}", "division_code": county + "000000",
            "period_start": end - 3_600_000, "period_end": end, "active_workers": active, "new_workers": 0,
            "departed_workers": 0, "employed_workers": active // 10, "non_standard_workers": active // 2,
            "independent_workers": active - active // 10 - active // 2, "insured_workers": active,
            "long_hours_workers": None}


def _heat_incident(platform: str, county: str, at_ms: int) -> dict:
    """A heat illness at a demo site during the warning (linked to it by the notice flows)."""
    return {"event_id": str(uuid.uuid4()), "platform_id": platform, "occurred_at": at_ms,
            "incident_id": f"demo-inc-{uuid.uuid4().hex[:12]}", "site_id": f"demo-{platform}-{county}",
            "division_code": county + "000000", "category": "HEAT_ILLNESS", "severity": "MINOR",
            "weather": "HEAT", "worker_ref": uuid.uuid4().hex * 2,  # 64 hex, the pseudonym's shape, "order_ref": None,
            "insured": True, "location": None, "reported_at": at_ms, "description": None}


def run_notice_demo(settings: Settings, platforms: list[str], *, warn_after_s: float = 20.0,
                    answer_after_s: float = 20.0, clock: Callable[[], float] = time.time,
                    sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = lambda: False) -> None:
    answering, late, silent = (platforms + [None, None, None])[:3]
    catalog = default_catalog()
    admin = TopicAdmin(settings)
    try:
        admin.ensure([f"platform.{p}.{t}" for p in platforms for t in ("measures", "algorithm-changes")])
    finally:
        admin.close()
    producer = KafkaProducer(acks="all", client_id="gigbridge-notice-demo", **settings.kafka_python_config)

    def send(topic: str, contract: str, record: dict) -> None:
        producer.send(topic, key=b"demo", value=encode(catalog.contract(contract).latest, record)).get(30)

    def injuries(platform: str, per_county: int) -> None:
        """Heat illnesses at the platform's demo sites, now: the injury-rate gauges move."""
        for county in DEMO_COUNTIES:
            for _ in range(per_county):
                send(ingest_topic(platform, "incidents"), "incident_report",
                     _heat_incident(platform, county, int(clock() * 1000)))

    try:
        now = int(clock() * 1000)
        for platform in platforms:
            for county in DEMO_COUNTIES:
                send(ingest_topic(platform, "sites"), "site_event", _site(platform, county, now))
                send(ingest_topic(platform, "headcounts"), "headcount_report", _headcount(platform, county, now))
        sleep(warn_after_s)  # demo pacing: the worker learns the open sites first
        identifier = f"44030041600000-{datetime.now(CHINA):%Y%m%dT%H%M%S}-HEAT-DEMO"
        result = asyncio.run(kafka_intake(settings, default_table().exists).submit(
            heat_warning_cap(identifier, datetime.now(timezone.utc), 6, DEMO_COUNTIES)))
        if result.problem is not None or not result.records:
            log.error("demo warning not published", problem=result.problem and result.problem.as_problem())
            return
        notice = result.records[0]
        log.info("demo heat warning published", notice_id=notice["notice_id"], topics=",".join(result.topics()),
                 answering=answering, late=late, silent=silent)
        responder = SimulatedNoticeResponder(late_platform=late, silent_platform=silent)
        for platform in platforms:
            injuries(platform, 2)  # before any measure
        for number, platform in enumerate(platforms):
            change = responder.rule_change(platform, [c + "000000" for c in DEMO_COUNTIES], int(clock() * 1000), number)
            if platform == answering:  # announced without the union / worker consultation: refused
                change = {**change, "rule_area": "PRICING", "consultation": None}
            send(f"platform.{platform}.algorithm-changes", "algorithm_rule_change", change)
        for platform, delay in ((answering, answer_after_s), (late, settings.notice_overdue_after_s)):
            if platform is None:
                continue
            sleep(delay)  # demo pacing
            if should_stop():
                return
            [measure] = responder.measures(notice, [platform], int(clock() * 1000))
            at = int(clock() * 1000)
            send(f"platform.{platform}.measures", "protection_measure",
                 {**measure, "occurred_at": at, "effective_from": at, "effective_to": at + 6 * 3_600_000})
            log.info("demo measure sent", platform=platform, measure=measure["measure"])
            injuries(platform, 2)  # after this platform's measure
    finally:
        producer.close()
