"""Console pages: area isolation (township vs county), every page in zh and en, suppression and
coordinate precision, the case queue's clock, and each action's event and message (sent,
refused, broker down, resubmitted)."""

from __future__ import annotations

import re

import pytest

from connectors.console import catalog_en, catalog_zh
from connectors.console.actions import legal_ack_actions, legal_case_actions
from streams.core.cases.acks import AckState
from streams.core.cases.lifecycle import apply
from tests.connectors.console.fixtures import (CASE_HRSS, CASE_LATE, CASE_PUDONG, CASE_TOWNSHIP, COUNTY, HRSS,
                                               NOW_MS, OTHER_TOWNSHIP, TOWNSHIP, UNITS, RecordingWrites, client_for,
                                               console_app, csrf_of, demo_data, form_of, incident, page, sign_in)

def without_path(html: str, path: str) -> str:
    """The page but for its own path (the language switch returns to it)."""
    return html.replace(f'name="next" value="{path}"', "")


PAGES = ("/console/", "/console/incidents", "/console/incidents/swiftmeal/inc-jianwai", "/console/cases",
         f"/console/cases/{CASE_TOWNSHIP}", "/console/warnings")


def test_both_catalogues_have_the_same_keys_and_placeholders():
    assert set(catalog_zh.MESSAGES) == set(catalog_en.MESSAGES)
    for key, text in catalog_zh.MESSAGES.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", catalog_en.MESSAGES[key])), key


def test_every_symbol_the_pages_show_has_a_label():
    from streams.core.cases.deadlines import DEADLINES
    from streams.core.cases.lifecycle import ACTIONS, STATUSES
    from streams.core.cases.units import CATEGORIES, URGENCIES
    from streams.core.cases.acks import ACK_ACTIONS
    wanted = ([f"deadline.{d}" for d in DEADLINES] + [f"action.{a}" for a in ACTIONS] + [f"status.{s}" for s in STATUSES]
              + [f"category.{c}" for c in CATEGORIES] + [f"urgency.{u}" for u in URGENCIES]
              + [f"ack.{a}" for a in ACK_ACTIONS])
    assert not [key for key in wanted if key not in catalog_zh.MESSAGES]


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_every_page_renders_in_both_languages_and_the_choice_is_remembered(lang):
    async with client_for(console_app()) as client:
        await sign_in(client, TOWNSHIP)
        if lang == "en":
            html = (await page(client, "/console/"))[1]
            resp = await client.post("/console/lang", data={"csrf": csrf_of(html), "lang": "en", "next": "/console/cases"},
                                     allow_redirects=False)
            assert resp.headers["Location"] == "/console/cases"
        expected = {"zh": ('lang="zh-CN"', "跳到正文", "我的辖区"), "en": ('lang="en"', "Skip to main content", "My area")}[lang]
        for path in PAGES:
            status, html = await page(client, path)
            assert status == 200, path
            for text in expected:
                assert text in html, (path, text)
            assert '<main id="main"' in html and 'href="#main"' in html
            labels = set(re.findall(r'<label for="([\w-]+)"', html))
            controls = set(re.findall(r'<(?:input|select|textarea) id="([\w-]+)"', html))
            assert controls <= labels, (path, controls - labels)  # every visible control is labelled


async def test_the_language_switch_never_redirects_off_the_console():
    async with client_for(console_app()) as client:
        csrf = csrf_of(await (await client.get("/console/signin")).text())
        for target in ("https://evil.example/", "//evil.example/console/", "/elsewhere"):
            resp = await client.post("/console/lang", data={"csrf": csrf, "lang": "en", "next": target},
                                     allow_redirects=False)
            assert resp.headers["Location"] == "/console/"


async def test_a_township_unit_sees_only_its_township():
    async with client_for(console_app()) as client:
        await sign_in(client, TOWNSHIP)
        html = (await page(client, "/console/"))[1]
        assert "s-jianwai-1" in html and "s-hujialou-1" not in html and "s-lujiazui-1" not in html
        assert "s-jianwai-closed" not in html  # closed sites are not open sites
        incidents = (await page(client, "/console/incidents"))[1]
        assert "inc-jianwai" in incidents and "inc-hujialou" not in incidents and "inc-lujiazui" not in incidents
        unknown_path = "/console/incidents/swiftmeal/no-such-incident"
        unknown = without_path((await page(client, unknown_path))[1], unknown_path)
        for path in ("/console/incidents/swiftmeal/inc-hujialou", "/console/incidents/swiftmeal/inc-lujiazui"):
            status, html = await page(client, path)
            assert status == 404 and without_path(html, path) == unknown and "felt dizzy" not in html
        warnings = (await page(client, "/console/warnings"))[1]
        assert "朝阳区高温橙色预警" in warnings and "浦东暴雨红色预警" not in warnings
        answered, silent = warnings.split("未答复的平台")
        assert "swiftmeal" in answered and "暂停派单, 开放休息站" in answered and "quickride" not in answered
        assert "quickride" in silent and "逾期未答复" in silent and "swiftmeal" not in silent


async def test_a_county_unit_sees_its_county_and_every_township_in_it_but_not_another_county():
    async with client_for(console_app()) as client:
        await sign_in(client, COUNTY)
        html = (await page(client, "/console/"))[1]
        assert "s-jianwai-1" in html and "s-hujialou-1" in html and "s-lujiazui-1" not in html
        assert "建外街道" in html and "呼家楼街道" in html
        assert (await page(client, "/console/incidents/swiftmeal/inc-hujialou"))[0] == 200
        assert (await page(client, "/console/incidents/swiftmeal/inc-lujiazui"))[0] == 404


async def test_another_units_case_by_url_is_the_same_404_as_an_unknown_case():
    async with client_for(console_app()) as client:
        await sign_in(client, TOWNSHIP)
        queue = (await page(client, "/console/cases"))[1]
        assert CASE_TOWNSHIP in queue and CASE_HRSS not in queue and CASE_PUDONG not in queue
        unknown_path = "/console/cases/99999999-9999-4999-8999-999999999999"
        unknown = without_path((await page(client, unknown_path))[1], unknown_path)
        for other in (CASE_HRSS, CASE_PUDONG):
            status, html = await page(client, f"/console/cases/{other}")
            assert status == 404 and without_path(html, f"/console/cases/{other}") == unknown
            form = {"csrf": csrf_of(html), "action": "RESOLVED", "event_id": "5e0d7c52-4d9f-4b7a-9a51-0c1f2d3e4f50"}
            assert (await client.post(f"/console/cases/{other}", data=form, allow_redirects=False)).status == 404


async def test_small_worker_counts_are_suppressed_and_coordinates_rounded_to_the_units_policy():
    async with client_for(console_app()) as client:
        await sign_in(client, COUNTY)
        html = (await page(client, "/console/"))[1]
        hujialou = html[html.index("s-hujialou-1"):].split("</tr>")[0]
        assert "<td>3</td>" not in hujialou and "<td>2</td>" not in hujialou
        assert hujialou.count('<span class="suppressed">少于5</span>') == 2  # 3 active, 2 insured
        jianwai = html[html.index("s-jianwai-1"):].split("</tr>")[0]
        assert "<td>14</td>" in jianwai and "<td>9</td>" in jianwai  # the latest period, at k or above
        assert "39.91, 116.46" in jianwai and "39.912" not in html and "116.456" not in html


async def test_the_queue_is_sorted_by_deadline_and_an_overdue_case_is_red_and_says_so():
    async with client_for(console_app()) as client:
        await sign_in(client, TOWNSHIP)
        html = (await page(client, "/console/cases"))[1]
        assert html.index(CASE_LATE) < html.index(CASE_TOWNSHIP)
        late_row = html[html.index(CASE_LATE) - 200:html.index(CASE_TOWNSHIP)]
        assert 'class="late"' in late_row and "<strong>已逾期</strong>" in late_row and "受理 逾期 6小时" in late_row
        assert "受理 剩余 23小时" in html[html.index(CASE_TOWNSHIP):]


def test_only_the_lifecycles_legal_steps_are_offered():
    data = demo_data()
    township_case = next(s for s in data.case_states if s.case_id == CASE_TOWNSHIP)
    hrss_case = next(s for s in data.case_states if s.case_id == CASE_HRSS)
    assert legal_case_actions(township_case, TOWNSHIP) == ("ACCEPTED", "TRANSFERRED")
    assert legal_case_actions(township_case, COUNTY) == ()
    assert legal_case_actions(hrss_case, HRSS) == ("ASSIGNED", "TRANSFERRED", "RESPONDED", "RESOLVED")
    assert legal_ack_actions(None, TOWNSHIP) == ("RECEIVED",)
    received = AckState("swiftmeal", "inc", TOWNSHIP, ("RECEIVED",), None, ("e1",))
    assert legal_ack_actions(received, TOWNSHIP) == ("VISITED", "REFERRED")
    assert legal_ack_actions(received, OTHER_TOWNSHIP) == ()


async def test_accepting_a_case_sends_the_units_event_with_the_forms_event_id():
    writes = RecordingWrites()
    async with client_for(console_app(writes=writes)) as client:
        await sign_in(client, TOWNSHIP)
        html = (await page(client, f"/console/cases/{CASE_TOWNSHIP}"))[1]
        assert 'value="RESOLVED"' not in html  # not legal while OPEN
        form = form_of(html, "ACCEPTED")
        resp = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data={**form, "note": "on our way"},
                                 allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == f"/console/cases/{CASE_TOWNSHIP}"
        assert "已提交" in (await page(client, f"/console/cases/{CASE_TOWNSHIP}"))[1]
    [(unit, stream, [event])] = writes.calls
    assert (unit, stream) == (TOWNSHIP, "case-events")
    assert event == {"event_id": form["event_id"], "case_id": CASE_TOWNSHIP, "action": "ACCEPTED", "actor_kind": "UNIT",
                     "actor_id": TOWNSHIP, "target_unit": None, "reason_code": None, "satisfaction": None,
                     "note": "on our way", "at": NOW_MS}


async def test_a_transfer_names_its_target_and_an_illegal_step_is_explained_without_sending():
    writes = RecordingWrites()
    async with client_for(console_app(writes=writes)) as client:
        await sign_in(client, TOWNSHIP)
        form = form_of((await page(client, f"/console/cases/{CASE_TOWNSHIP}"))[1], "TRANSFERRED")
        same = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data={**form, "target_unit": TOWNSHIP})
        assert same.status == 409 and "already with this unit" in await same.text()
        resolve = {**form, "action": "RESOLVED"}
        assert (await client.post(f"/console/cases/{CASE_TOWNSHIP}", data=resolve)).status == 409
        assert writes.calls == []
        sent = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data={**form, "target_unit": HRSS},
                                 allow_redirects=False)
        assert sent.status == 303
    [(_, _, [event])] = writes.calls
    assert (event["action"], event["target_unit"], event["event_id"]) == ("TRANSFERRED", HRSS, form["event_id"])


async def test_a_refusal_by_the_hub_is_shown_and_the_entry_kept():
    writes = RecordingWrites(mode="refuse")
    async with client_for(console_app(writes=writes)) as client:
        await sign_in(client, TOWNSHIP)
        form = form_of((await page(client, f"/console/cases/{CASE_TOWNSHIP}"))[1], "ACCEPTED")
        resp = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data={**form, "note": "call 13800138000"})
        html = await resp.text()
        assert resp.status == 422 and "未被接受" in html and "phone number" in html
        assert form_of(html, "ACCEPTED")["note"] == "call 13800138000"


async def test_broker_down_keeps_the_entry_and_a_resubmission_repeats_the_same_event_id():
    writes = RecordingWrites(mode="down")
    data = demo_data()
    async with client_for(console_app(data=data, writes=writes)) as client:
        await sign_in(client, TOWNSHIP)
        form = form_of((await page(client, f"/console/cases/{CASE_TOWNSHIP}"))[1], "ACCEPTED")
        down = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data={**form, "note": "we take it"})
        html = await down.text()
        assert down.status == 503 and "提交未得到确认" in html and 'role="alert"' in html
        kept = form_of(html, "ACCEPTED")
        assert kept["event_id"] == form["event_id"] and kept["note"] == "we take it"
        writes.mode = "ok"
        again = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data=kept, allow_redirects=False)
        assert again.status == 303
        assert [c[2][0]["event_id"] for c in writes.calls] == [form["event_id"]] * 2
        # the hub applied it; a third submission of the same form is recognised and not sent again
        state = next(s for s in data.case_states if s.case_id == CASE_TOWNSHIP)
        data.case_states[data.case_states.index(state)] = apply(state, writes.calls[-1][2][0], UNITS).state
        third = await client.post(f"/console/cases/{CASE_TOWNSHIP}", data=kept, allow_redirects=False)
        assert third.status == 303 and len(writes.calls) == 2


async def test_acknowledging_an_incident_sends_an_incident_ack_and_offers_only_legal_steps():
    writes = RecordingWrites()
    data = demo_data()
    async with client_for(console_app(data=data, writes=writes)) as client:
        await sign_in(client, TOWNSHIP)
        path = "/console/incidents/swiftmeal/inc-jianwai"
        html = (await page(client, path))[1]
        assert 'value="VISITED"' not in html and "ab" * 32 in html  # the office's pseudonym, shown as received
        form = form_of(html, "RECEIVED")
        assert (await client.post(path, data=form, allow_redirects=False)).status == 303
        [(unit, stream, [event])] = writes.calls
        assert (unit, stream) == (TOWNSHIP, "incident-acks")
        assert event == {"event_id": form["event_id"], "platform_id": "swiftmeal", "incident_id": "inc-jianwai",
                         "unit_id": TOWNSHIP, "action": "RECEIVED", "target_unit": None, "note": None, "at": NOW_MS}
        data.incident_rows[0] = incident("inc-jianwai", data.incident_rows[0].division_code,
                                         AckState("swiftmeal", "inc-jianwai", TOWNSHIP, ("RECEIVED",), None,
                                                  (form["event_id"],)))
        html = (await page(client, path))[1]
        assert 'value="RECEIVED"' not in html and 'value="VISITED"' in html and 'value="REFERRED"' in html
        writes.mode = "down"
        visited = form_of(html, "VISITED")
        down = await client.post(path, data=visited)
        assert down.status == 503 and form_of(await down.text(), "VISITED")["event_id"] == visited["event_id"]


async def test_pages_say_how_current_the_read_model_is():
    from connectors.console_feed.freshness import FreshnessStatus

    data = demo_data()
    status = FreshnessStatus("unreachable", NOW_MS - 120_000, 0, NOW_MS - 120_000)
    data.freshness = lambda: status  # the Kafka read model's optional report
    async with client_for(console_app(data=data)) as client:
        await sign_in(client, TOWNSHIP)
        html = (await page(client, "/console/cases"))[1]
        assert "暂时无法连接消息服务" in html and "数据截至 2026-05-29 04:24" in html
        status = FreshnessStatus("live", NOW_MS, 0, NOW_MS)
        html = (await page(client, "/console/cases"))[1]
        assert "暂时无法连接消息服务" not in html and "数据截至 2026-05-29 04:26" in html


@pytest.mark.parametrize("action", ["ASSIGNED", "TRANSFERRED", "RESPONDED", "RESOLVED"])
@pytest.mark.parametrize("mode, status, message", [("ok", 200, "已提交"), ("refuse", 422, "未被接受"),
                                                   ("down", 503, "提交未得到确认")])
async def test_each_step_of_the_lead_unit_builds_its_event_and_shows_its_message(action, mode, status, message):
    writes = RecordingWrites(mode=mode)
    async with client_for(console_app(writes=writes)) as client:
        await sign_in(client, HRSS)
        form = form_of((await page(client, f"/console/cases/{CASE_HRSS}"))[1], action)
        target = "110105-union" if action in ("ASSIGNED", "TRANSFERRED") else ""
        resp = await client.post(f"/console/cases/{CASE_HRSS}", data={**form, "target_unit": target, "note": "n"})
        assert resp.status == status and message in await resp.text()
    [(unit, stream, [event])] = writes.calls
    assert (unit, stream, event["action"], event["actor_kind"], event["actor_id"]) == (
        HRSS, "case-events", action, "UNIT", HRSS)
    assert (event["event_id"], event["target_unit"] or "", event["note"]) == (form["event_id"], target, "n")


async def test_the_trend_labels_each_period_with_its_day_and_time():
    """Hourly headcount periods of one day need distinct column headings (a date alone repeats)."""
    from connectors.console.data import HeadcountRow, MemoryConsoleData
    from connectors.console.i18n import local_time
    from tests.connectors.console.fixtures import HOUR_MS, JIANWAI, site

    starts = (NOW_MS - 3 * HOUR_MS, NOW_MS - 2 * HOUR_MS, NOW_MS - HOUR_MS)
    data = MemoryConsoleData(site_rows=[site("s-jianwai-1", JIANWAI, ("REST_AREA",))],
                             headcount_rows=[HeadcountRow("swiftmeal", "s-jianwai-1", JIANWAI, s, s + HOUR_MS, 20, 10)
                                             for s in starts])
    async with client_for(console_app(data)) as client:
        await sign_in(client, TOWNSHIP)
        html = (await page(client, "/console/"))[1]
    trend = html[html.index('<table class="trend">'):].split("</table>")[0]
    headings = re.findall(r'<th scope="col">([^<]+)</th>', trend)
    assert headings == [local_time(s)[5:16] for s in starts] and len(set(headings)) == 3
