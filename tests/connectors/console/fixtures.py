"""A console on in-memory data for the tests (and for the browser tests of branch ``browser``):
units of Beijing Chaoyang from deploy/units.yaml, one area per unit level, a recording write path
that can be told to refuse or to be down, and a hand-set clock."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiohttp.test_utils import TestClient, TestServer

from connectors.console.app import create_console_app
from connectors.console.auth import SessionLimits
from connectors.console.data import (HeadcountRow, IncidentRow, MemoryConsoleData, PlatformAnswer, Point, SiteRow,
                                     WarningRow)
from connectors.gateway.config import TokenStore, hash_token
from connectors.gateway.unit_writes import EventAccepted, EventRejected, SubmissionNotSaved
from gigbridge.divisions import default_table
from streams.core.cases.acks import AckState
from streams.core.cases.lifecycle import apply, open_case
from streams.core.cases.units import UNIT_ID_RE
from streams.loaders.cases import load_units
from streams.loaders.policy import load_policies

UNITS = load_units()
POLICIES = load_policies()
DIVISIONS = default_table()
HOUR_MS = 3_600_000
NOW_MS = 1_780_000_000_000  # 2026-05-28
KEY = bytes(range(32))
TOWNSHIP, COUNTY, OTHER_TOWNSHIP, OTHER_COUNTY = "110105001-gov", "110105-gov", "110105003-gov", "310115-gov"
HRSS = "110105-hrss"
TOKENS = {unit: f"token-of-{unit}" for unit in (TOWNSHIP, COUNTY, OTHER_TOWNSHIP, OTHER_COUNTY, HRSS)}
JIANWAI, HUJIALOU, LUJIAZUI = "110105001001", "110105003002", "310115005001"
CASE_TOWNSHIP = "11111111-1111-4111-8111-111111111111"  # FACILITY in Jianwai: the township office's
CASE_HRSS = "22222222-2222-4222-8222-222222222222"  # PAY in Chaoyang: the HR bureau's, accepted
CASE_LATE = "33333333-3333-4333-8333-333333333333"  # FACILITY in Jianwai, accept deadline passed
CASE_PUDONG = "44444444-4444-4444-8444-444444444444"


def case(case_id: str, category: str, division: str, submitted_at: int, urgency: str = "GENERAL"):
    return open_case({"case_id": case_id, "source_kind": "PLATFORM", "source_id": "swiftmeal",
                      "platform_id": "swiftmeal", "division_code": division, "category": category,
                      "urgency": urgency, "submitted_at": submitted_at}, UNITS).state


def accepted(state, unit: str, at: int, event_id: str = "aaaaaaaa-0000-4000-8000-000000000001"):
    return apply(state, {"event_id": event_id, "case_id": state.case_id, "action": "ACCEPTED", "actor_kind": "UNIT",
                         "actor_id": unit, "target_unit": None, "reason_code": None, "satisfaction": None,
                         "note": None, "at": at}, UNITS).state


def site(site_id: str, division: str, facilities: tuple[str, ...], location: Point | None = None, open=True):
    return SiteRow("swiftmeal", site_id, division, "DELIVERY_STATION", facilities, open,
                   location, 20, NOW_MS - 48 * HOUR_MS)


def incident(incident_id: str, division: str, acks: AckState | None = None) -> IncidentRow:
    return IncidentRow("swiftmeal", incident_id, division, NOW_MS - 5 * HOUR_MS, "HEAT_ILLNESS", "MODERATE", "HEAT",
                       True, "ab" * 32, None, None, None, "felt dizzy at noon", acks)


def demo_data() -> MemoryConsoleData:
    period = 24 * HOUR_MS
    return MemoryConsoleData(
        site_rows=[site("s-jianwai-1", JIANWAI, ("REST_AREA", "DRINKING_WATER", "CHARGING"), Point(39.912345, 116.456789)),
                   site("s-jianwai-2", JIANWAI, ("COOLING",)),
                   site("s-jianwai-closed", JIANWAI, ("REST_AREA",), open=False),
                   site("s-hujialou-1", HUJIALOU, ("HEATING",)),
                   site("s-lujiazui-1", LUJIAZUI, ("REST_AREA",))],
        headcount_rows=[HeadcountRow("swiftmeal", "s-jianwai-1", JIANWAI, NOW_MS - 2 * period, NOW_MS - period, 12, 7),
                        HeadcountRow("swiftmeal", "s-jianwai-1", JIANWAI, NOW_MS - period, NOW_MS, 14, 9),
                        HeadcountRow("swiftmeal", "s-hujialou-1", HUJIALOU, NOW_MS - period, NOW_MS, 3, 2),
                        HeadcountRow("swiftmeal", "s-lujiazui-1", LUJIAZUI, NOW_MS - period, NOW_MS, 40, 30)],
        incident_rows=[incident("inc-jianwai", JIANWAI), incident("inc-hujialou", HUJIALOU),
                       incident("inc-lujiazui", LUJIAZUI)],
        case_states=[case(CASE_TOWNSHIP, "FACILITY", JIANWAI, NOW_MS - HOUR_MS),
                     accepted(case(CASE_HRSS, "PAY", JIANWAI, NOW_MS - 3 * HOUR_MS), HRSS, NOW_MS - 2 * HOUR_MS),
                     case(CASE_LATE, "FACILITY", JIANWAI, NOW_MS - 30 * HOUR_MS),
                     case(CASE_PUDONG, "FACILITY", LUJIAZUI, NOW_MS - HOUR_MS)],
        warning_rows=[WarningRow("heat-1", "HEAT", "ORANGE", "朝阳区高温橙色预警", ("110105000000",), NOW_MS - HOUR_MS,
                                 NOW_MS + 10 * HOUR_MS,
                                 (PlatformAnswer("swiftmeal", "ANSWERED", NOW_MS - HOUR_MS, NOW_MS - HOUR_MS // 2,
                                                 ("SUSPEND_DISPATCH", "OPEN_REST_STATIONS")),
                                  PlatformAnswer("quickride", "OVERDUE", NOW_MS - HOUR_MS))),
                      WarningRow("rain-sh", "RAINSTORM", "RED", "浦东暴雨红色预警", ("310115000000",), NOW_MS - HOUR_MS, None)])


@dataclass
class RecordingWrites:
    """The unit write path, recording every submission; ``mode``: "ok", "refuse" or "down"."""

    mode: str = "ok"
    calls: list[tuple[str, str, list[dict]]] = field(default_factory=list)

    async def submit(self, unit_id: str, stream: str, events: list[dict]):
        self.calls.append((unit_id, stream, events))
        if self.mode == "down":
            raise SubmissionNotSaved("Kafka did not acknowledge the events (test); nothing was saved")
        if self.mode == "refuse":
            return [EventRejected(0, events[0]["event_id"], "pii_detected", "note", "the note looks like a phone number")]
        return [EventAccepted(0, events[0]["event_id"])]


@dataclass
class Clock:
    now_s: float = NOW_MS / 1000

    def __call__(self) -> float:
        return self.now_s


def console_app(data=None, writes=None, clock=None, **kwargs):
    tokens = TokenStore({u: hash_token(t) for u, t in TOKENS.items()}, id_pattern=UNIT_ID_RE, kind="unit")
    return create_console_app(data=data or demo_data(), writes=writes or RecordingWrites(), tokens=tokens,
                              units=UNITS, policies=POLICIES, key=KEY, clock=clock or Clock(),
                              division_name=lambda code: (d.name if (d := DIVISIONS.get(code)) else None),
                              cookie_secure=False, **kwargs)


def client_for(app) -> TestClient:
    return TestClient(TestServer(app, host="127.0.0.1"))


CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    return CSRF_RE.search(html).group(1)


def form_of(html: str, action: str) -> dict[str, str]:
    """The hidden and filled fields of the page's form for ``action`` (a case or ack action)."""
    for block in html.split("<form")[1:]:
        if f'name="action" value="{action}"' in block:
            fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', block))
            note = re.search(r'<textarea[^>]*name="note"[^>]*>([^<]*)</textarea>', block)
            fields["note"] = note.group(1) if note else ""
            return fields
    raise AssertionError(f"no form for {action}")


async def sign_in(client: TestClient, unit: str):
    page = await (await client.get("/console/signin")).text()
    return await client.post("/console/signin", data={"csrf": csrf_of(page), "token": TOKENS[unit]},
                             allow_redirects=False)


async def page(client: TestClient, path: str) -> tuple[int, str]:
    resp = await client.get(path, allow_redirects=False)
    return resp.status, await resp.text()
