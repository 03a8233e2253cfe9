"""deploy/units.yaml and its checks: realistic pilot units, routing by category and level, and the
county-government fallback for categories without a unit and counties not listed."""

from __future__ import annotations

import copy

import pytest
import yaml

from gigbridge.divisions import default_table
from streams.loaders.cases import DEFAULT_UNITS_PATH, load_units
from streams.core.cases.units import CATEGORIES, KINDS, UnitsError, parse_duration, parse_units

DOC = yaml.safe_load(DEFAULT_UNITS_PATH.read_text(encoding="utf-8"))
EXISTS = default_table().exists
UNITS = load_units()
PILOTS = ("110105", "310115", "440305", "330106")


def test_every_pilot_county_has_a_government_and_every_department_kind():
    for county in PILOTS:
        kinds = {u.kind for u in UNITS.units.values() if u.county == county and u.level == "county"}
        assert kinds == set(KINDS) - {"TOWNSHIP_GOVERNMENT"}, county
        assert UNITS.county_government(county + "001000").id == f"{county}-gov"
    assert all(u.name_zh and u.name_en for u in UNITS.units.values())


@pytest.mark.parametrize("category,division,unit", [
    ("PAY", "110105001000", "110105-hrss"),
    ("SOCIAL_INSURANCE", "330106000000", "330106-hrss"),
    ("FACILITY", "110105001000", "110105001-gov"),  # township with its own office
    ("FACILITY", "110105002000", "110105-union"),  # township without one: the county's kind
    ("FACILITY", "110105000000", "110105-union"),  # county-level case
    ("PARKING_AND_ACCESS", "440305003000", "440305003-gov"),
    ("SAFETY", "310115005000", "310115-emergency"),
    ("OTHER", "310115005000", "310115-gov"),  # no default: county government
    ("PAY", "510107000000", "510107-gov"),  # county not listed: synthetic county government
])
def test_route(category, division, unit):
    assert UNITS.route(category, division).id == unit


def test_every_category_routes_in_every_listed_township():
    for unit in UNITS.units.values():
        for category in CATEGORIES:
            routed = UNITS.route(category, unit.division_code)
            assert routed.division_code[:6] == unit.division_code[:6]


def test_synthetic_county_government_only_for_six_digit_gov_ids():
    assert UNITS.get("510107-gov").kind == "COUNTY_GOVERNMENT"
    assert UNITS.get("510107-hrss") is None and UNITS.get("nope") is None


def test_durations():
    assert [parse_duration(x) for x in ("30m", "2h", "7d")] == [1_800_000, 7_200_000, 604_800_000]
    for bad in ("0h", "2 h", "2w", "", "h"):
        with pytest.raises(UnitsError):
            parse_duration(bad)


def _broken(change) -> dict:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("defaults"), "needs format: 1"),
    (lambda d: d["deadlines"].pop("URGENT"), "exactly the urgencies"),
    (lambda d: d["deadlines"]["URGENT"].update(accept="3d"), "accept <= respond <= resolve"),
    (lambda d: d["defaults"].update(WAGES={"county": "HOUSING"}), "defaults.WAGES"),
    (lambda d: d["defaults"]["PAY"].update(county="LABOUR"), "kinds must be among"),
    (lambda d: d["units"][1].update(id="Bad Id"), "id must match"),
    (lambda d: d["units"][1].update(division_code="999999000000"), "not an NBS 2023 division"),
    (lambda d: d["units"][1].update(division_code="110105001000"), "county-level division code"),
    (lambda d: d["units"][8].update(division_code="110105000000"), "township-level division code"),
    (lambda d: d["units"][1].update(kind="COUNTY_GOVERNMENT"), "only it, has the id"),
    (lambda d: d["units"].append(dict(d["units"][1])), "used twice"),
    (lambda d: d["units"][1].pop("name_en"), "exactly the keys"),
])
def test_broken_units_documents_are_refused(change, message):
    with pytest.raises(UnitsError, match=message):
        parse_units(_broken(change), EXISTS)
