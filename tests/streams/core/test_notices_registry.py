"""Alert / Update / Cancel applied to the notice registry; WeatherNotice records per province."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.notices.cap import parse_cap
from streams.core.notices.registry import Registry, apply_notice, notice_topic
from streams.loaders.notices import load_cap_schema

CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
WEATHER_NOTICE = default_catalog().contract("weather_notice").latest
TYPHOON_ID = "33000041600000-20260530T080000-TYPH"


def notice(name):
    return parse_cap((CAP_DIR / name).read_bytes(), schema=load_cap_schema(), division_exists=default_table().exists)


def apply_all(*names, registry=None):
    registry = registry or Registry()
    outcomes = []
    for name in names:
        outcome = apply_notice(registry, notice(name))
        outcomes.append(outcome)
        registry = outcome.registry
    return registry, outcomes


def test_typhoon_alert_update_cancel_chain():
    registry, (alert, update, cancel) = apply_all(
        "typhoon_yellow_zhejiang.xml", "typhoon_orange_update_zhejiang.xml", "typhoon_cancel_zhejiang.xml")
    assert [o.kind for o in (alert, update, cancel)] == ["published"] * 3
    [a], [u], [c] = alert.records, update.records, cancel.records
    assert {r["notice_id"] for r in (a, u, c)} == {TYPHOON_ID}
    assert [(r["revision"], r["msg_type"], r["level"]) for r in (a, u, c)] == [
        (0, "ALERT", "YELLOW"), (1, "UPDATE", "ORANGE"), (2, "CANCEL", "ORANGE")]
    assert a["division_codes"] == ["330106000000", "330203000000"] and u["division_codes"] == ["330106000000"]
    assert c["expires"] == c["sent"]  # lifted when the cancel was sent
    assert notice_topic(a) == "gov.notices.33"
    state = registry.notices[TYPHOON_ID]
    assert state.cancelled and state.revision == 2
    for record in (a, u, c):
        encode(WEATHER_NOTICE, record)  # every record fits the contract


def test_inputs_are_never_mutated_and_repeats_publish_nothing():
    registry, [first] = apply_all("heat_orange_shenzhen.xml")
    again = apply_notice(registry, notice("heat_orange_shenzhen.xml"))
    assert again.kind == "repeat" and again.records == () and again.registry is registry
    assert Registry().notices == {} and first.registry.notices.keys() == {"44030041600000-20260531T100000-HEAT"}


def test_update_of_an_unknown_notice_is_refused():
    outcome = apply_notice(Registry(), notice("typhoon_orange_update_zhejiang.xml"))
    assert outcome.kind == "refused" and outcome.problem.slug == "cap-unknown-reference"
    assert outcome.problem.status == 409 and outcome.registry.notices == {}


def test_nothing_follows_a_cancel():
    registry, _ = apply_all("typhoon_yellow_zhejiang.xml", "typhoon_cancel_zhejiang.xml")
    outcome = apply_notice(registry, notice("typhoon_orange_update_zhejiang.xml"))
    assert outcome.kind == "refused" and outcome.problem.slug == "cap-notice-cancelled"
    assert outcome.registry is registry


def test_one_record_per_province():
    _, [outcome] = apply_all("cold_wave_blue_beijing_hebei.xml")
    assert [(notice_topic(r), r["division_codes"]) for r in outcome.records] == [
        ("gov.notices.11", ["110101000000"]), ("gov.notices.13", ["130102000000"])]


def test_a_province_dropped_by_an_update_gets_a_cancel_record():
    registry, _ = apply_all("cold_wave_blue_beijing_hebei.xml")
    beijing_only = notice("cold_wave_blue_beijing_hebei.xml")
    update = replace(beijing_only, identifier="00000041600000-20261110T120000-COLD", msg_type="UPDATE",
                     references=("nmc@cma.example,00000041600000-20261110T070000-COLD,2026-11-10T07:00:00+08:00",),
                     division_codes=("110101000000",))
    outcome = apply_notice(registry, update)
    assert [(r["province"], r["msg_type"], r["division_codes"]) for r in outcome.records] == [
        ("11", "UPDATE", ["110101000000"]), ("13", "CANCEL", [])]


BASE = notice("heat_orange_shenzhen.xml")
AREAS = (("440305000000",), ("440304000000", "440305000000"), ("440106000000", "330106000000"))


@st.composite
def message_chains(draw):
    """Alerts, updates and cancels by one sender, each update/cancel naming an earlier message
    (or an unknown one), in any order and with repeats."""
    messages = []
    for i in range(draw(st.integers(1, 12))):
        kind = "ALERT" if not messages else draw(st.sampled_from(["ALERT", "UPDATE", "CANCEL", "REPEAT"]))
        if kind == "REPEAT":
            messages.append(draw(st.sampled_from(messages)))
            continue
        refs = ()
        if kind != "ALERT":
            target = draw(st.sampled_from([m.identifier for m in messages] + ["never-sent"]))
            refs = (f"{BASE.sender},{target},2026-05-31T10:00:00+08:00",)
        messages.append(replace(BASE, identifier=f"msg-{i}", msg_type=kind, references=refs,
                                division_codes=draw(st.sampled_from(AREAS)), sent=BASE.sent + i * 60_000))
    return messages


@settings(max_examples=100, deadline=None)
@given(message_chains())
def test_registry_invariants(messages):
    registry = Registry()
    for message in messages:
        before = registry
        snapshot = (dict(before.notices), dict(before.seen))
        outcome = apply_notice(before, message)
        assert (dict(before.notices), dict(before.seen)) == snapshot  # the input is never changed
        if outcome.kind != "published":
            assert outcome.records == () and outcome.registry is before
        else:
            state = outcome.registry.notices[outcome.records[0]["notice_id"]]
            old = before.notices.get(state.notice_id)
            assert state.revision == (0 if old is None else old.revision + 1)
            assert old is None or not old.cancelled  # nothing is applied after a cancel
            for record in outcome.records:
                encode(WEATHER_NOTICE, record)
                assert record["revision"] == state.revision
        registry = outcome.registry
