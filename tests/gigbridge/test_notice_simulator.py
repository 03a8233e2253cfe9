"""The notice simulator: one platform answers late, one never; every record passes the validators."""

from __future__ import annotations

import copy
from pathlib import Path

from gigbridge.divisions import default_table
from gigbridge.simulator.notices import SimulatedNoticeResponder
from schemas.catalog import default_catalog
from streams.core.notices.cap import parse_cap
from streams.core.notices.registry import Registry, apply_notice
from streams.core.notices.rule_changes import check_rule_change
from streams.core.notices.tracking import answer_state, check_measure, concerned_platforms, record_answer, track_notice
from streams.loaders.notices import load_cap_schema
from streams.core.validate import check_schema

CAP = Path(__file__).resolve().parents[1] / "data" / "cap" / "heat_orange_shenzhen.xml"
SITES = [("swiftdash", "440305001000"), ("cityride", "440304003000"), ("parcelgo", "440305002000"),
         ("haulnet", "440304001000")]
EXISTS = default_table().exists


def heat_record():
    notice = parse_cap(CAP.read_bytes(), schema=load_cap_schema(), division_exists=EXISTS)
    [record] = apply_notice(Registry(), notice).records
    return record


def valid(contract, record, check):
    record = copy.deepcopy(record)
    rejection = check_schema(default_catalog().contract(contract).latest, record)
    return rejection or check(record)


def test_late_and_silent_platforms_show_up_in_tracking():
    record = heat_record()
    notified = record["sent"] + 5 * 60_000
    platforms = list(concerned_platforms(record["division_codes"], SITES))
    sim = SimulatedNoticeResponder(seed=3, late_platform="cityride", silent_platform="haulnet")
    measures = sim.measures(record, platforms, notified)
    assert sorted(m["platform_id"] for m in measures) == ["cityride", "parcelgo", "swiftdash"]
    areas = {record["notice_id"]: record["division_codes"]}
    for m in measures:
        assert valid("protection_measure", m, lambda r: check_measure(
            r, now_ms=m["occurred_at"], division_exists=EXISTS, notice_areas=areas)) is None
    tracks = track_notice({}, record, SITES, notified)
    late = next(m for m in measures if m["platform_id"] == "cityride")
    deadline = notified + sim.overdue_after_ms
    assert late["occurred_at"] > deadline
    for m in measures:
        tracks = record_answer(tracks, m)
    states = {p: answer_state(t, deadline + 1) for (_, p), t in tracks.items()}
    assert states == {"swiftdash": "ANSWERED", "parcelgo": "ANSWERED", "cityride": "OVERDUE", "haulnet": "OVERDUE"}
    after = late["occurred_at"] + 1
    assert {p: answer_state(t, after) for (_, p), t in tracks.items()}["cityride"] == "ANSWERED"


def test_rule_changes_are_valid_and_seeded():
    def changes(seed):
        sim = SimulatedNoticeResponder(seed=seed)
        return [sim.rule_change("swiftdash", ["440300000000"], 1780000000000 + i * 3_600_000, i) for i in range(40)]

    first = changes(5)
    assert first == changes(5) and first != changes(6)
    assert {c["rule_area"] for c in first} >= {"PAY_DISTRIBUTION", "DISPATCH"}
    for change in first:
        assert valid("algorithm_rule_change", change, lambda r: check_rule_change(
            r, now_ms=change["occurred_at"], division_exists=EXISTS)) is None
