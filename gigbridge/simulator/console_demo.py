"""The office console in ``make run`` (``gigbridge demo``, issue #18): the console process on a
free loopback port, demo unit logins, and traffic that keeps every page of the demo units filled.

Demo units (``deploy/units.yaml``): the county office ``440305-hrss`` (Nanshan, Shenzhen) and the
township ``440305001-gov`` inside it -- Nanshan is where the demo heat warning, its platform
answers (:mod:`.notice_demo`) and simulated cases (:mod:`.cases`) already are. Their tokens are
public development values, like the ``--dev`` Kafka passwords: the demo sets
``GIGBRIDGE_CASE_UNIT_TOKENS`` to their digests only when it is not configured.

:func:`run_area_traffic` adds, per platform, a site in the township with a headcount every
period and now and then an incident, a third of them acknowledged by the township office, so
the console's area, incidents and acknowledgement state move while the demo runs.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable

from kafka import KafkaProducer
from pydantic import SecretStr

from gigbridge.logs import get_logger
from gigbridge.settings import Settings
from gigbridge.simulator.notice_demo import _headcount, _heat_incident, _site
from gigbridge.topics_admin import TopicAdmin
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.topics import ingest_topic

log = get_logger("gigbridge.simulate.console")

DEMO_UNIT_TOKENS = {"440305-hrss": "demo-440305-hrss-token", "440305001-gov": "demo-440305001-gov-token"}
TOWNSHIP_UNIT, TOWNSHIP_CODE = "440305001-gov", "440305001000"
ROUND_S = 30.0  # one headcount per site per round
INCIDENT_EVERY = 4  # rounds


def with_demo_tokens(settings: Settings) -> Settings:
    """The demo units' token digests, unless unit tokens are configured."""
    if settings.case_unit_tokens is not None:
        return settings
    digests = {unit: hashlib.sha256(token.encode()).hexdigest() for unit, token in DEMO_UNIT_TOKENS.items()}
    return settings.model_copy(update={"case_unit_tokens": SecretStr(json.dumps(digests))})


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_console(settings: Settings, port: int) -> subprocess.Popen | None:
    """``python -m connectors.console`` on 127.0.0.1:``port`` (``GIGBRIDGE_CONSOLE_HOST``/``_PORT``)
    with the demo's unit tokens and, unless configured, a fresh session key and a session cookie
    allowed over plain HTTP; None (and a log line) where this checkout has no console yet."""
    if importlib.util.find_spec("connectors.console.__main__") is None:
        log.warning("no office console in this checkout (connectors.console has no __main__)")
        return None
    env = {**os.environ, "GIGBRIDGE_CONSOLE_HOST": "127.0.0.1", "GIGBRIDGE_CONSOLE_PORT": str(port),
           "GIGBRIDGE_CASE_UNIT_TOKENS": settings.case_unit_tokens.get_secret_value()}
    env.setdefault("GIGBRIDGE_CONSOLE_SESSION_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    env.setdefault("GIGBRIDGE_CONSOLE_COOKIE_SECURE", "false")  # plain HTTP on loopback: the demo only
    return subprocess.Popen([sys.executable, "-m", "connectors.console"], env=env)


def login_lines(port: int) -> list[str]:
    """What the demo prints: the console's address and a token per demo unit."""
    lines = [f"office console: http://127.0.0.1:{port}/console/ -- sign in with a unit token:"]
    lines += [f"  {unit:<15} {token}" for unit, token in DEMO_UNIT_TOKENS.items()]
    return lines


def township_records(platform: str, round_no: int, now_ms: int) -> list[tuple[str, str, dict]]:
    """(topic, contract, record) of one round at the platform's township site: the site (opened in
    round 0, then updated), a headcount, and every ``INCIDENT_EVERY`` rounds an incident, every
    third one with the township office's RECEIVED acknowledgement."""
    site_id = f"demo-{platform}-{TOWNSHIP_CODE}"
    at_site = {"site_id": site_id, "division_code": TOWNSHIP_CODE}
    site = {**_site(platform, TOWNSHIP_CODE[:6], now_ms), **at_site, "action": "OPENED" if round_no == 0 else "UPDATED",
            "facilities": ["REST_AREA", "DRINKING_WATER", "CHARGING", "COOLING"]}
    out = [(ingest_topic(platform, "sites"), "site_event", site),
           (ingest_topic(platform, "headcounts"), "headcount_report",
            {**_headcount(platform, TOWNSHIP_CODE[:6], now_ms, active=40 + round_no % 7), **at_site})]
    if round_no % INCIDENT_EVERY == 0:
        incident = {**_heat_incident(platform, TOWNSHIP_CODE[:6], now_ms), **at_site}
        out.append((ingest_topic(platform, "incidents"), "incident_report", incident))
        if round_no % (3 * INCIDENT_EVERY) == 0:
            out.append((f"gov.units.{TOWNSHIP_UNIT}.incident-acks", "incident_ack", {
                "event_id": str(uuid.uuid4()), "platform_id": platform, "incident_id": incident["incident_id"],
                "unit_id": TOWNSHIP_UNIT, "action": "RECEIVED", "target_unit": None, "note": None, "at": now_ms}))
    return out


def run_area_traffic(settings: Settings, platforms: list[str], *, clock: Callable[[], float] = time.time,
                     sleep: Callable[[float], None] = time.sleep, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Rounds of :func:`township_records` every ``ROUND_S`` until ``should_stop()``."""
    catalog = default_catalog()
    admin = TopicAdmin(settings)
    try:
        admin.ensure([f"gov.units.{TOWNSHIP_UNIT}.incident-acks"])
    finally:
        admin.close()
    producer = KafkaProducer(acks="all", client_id="gigbridge-console-demo", **settings.kafka_python_config)
    try:
        round_no = 0
        while not should_stop():
            for platform in platforms:
                for topic, contract, record in township_records(platform, round_no, int(clock() * 1000)):
                    producer.send(topic, key=record.get("site_id", "demo").encode(),
                                  value=encode(catalog.contract(contract).latest, record))
            producer.flush(30)
            round_no += 1
            sleep(ROUND_S)  # demo pacing
    finally:
        producer.close()


def _traffic_logged(settings: Settings, platforms: list[str]) -> None:
    try:
        run_area_traffic(settings, platforms)
    except Exception as exc:  # the demo keeps the worker up; say why the console's traffic stopped
        log.error("console demo traffic stopped", error=str(exc))


def start_console_demo(settings: Settings, platforms: list[str]) -> tuple[Settings, subprocess.Popen | None]:
    """The demo's unit tokens in the settings (the worker's case look-ups take them too), the area
    traffic in a background thread and the console process; prints its address and logins."""
    settings = with_demo_tokens(settings)
    threading.Thread(target=_traffic_logged, args=(settings, platforms), name="console-demo", daemon=True).start()
    port = free_loopback_port()
    console = start_console(settings, port)
    if console is not None:
        print("\n".join(login_lines(port)), flush=True)
    return settings, console
