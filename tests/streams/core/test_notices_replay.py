"""The registry rebuilt from published WeatherNotice records applies the next message exactly
like the in-memory registry that produced them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigbridge.divisions import default_table
from streams.core.notices.cap import parse_cap
from streams.core.notices.registry import Registry, apply_notice
from streams.core.notices.replay import registry_from_records
from streams.loaders.notices import load_cap_schema

CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
CHAINS = [
    ["typhoon_yellow_zhejiang.xml", "typhoon_orange_update_zhejiang.xml", "typhoon_cancel_zhejiang.xml",
     "typhoon_orange_update_zhejiang.xml"],
    ["cold_wave_blue_beijing_hebei.xml", "heat_orange_shenzhen.xml", "cold_wave_blue_beijing_hebei.xml"],
    ["typhoon_orange_update_zhejiang.xml"],  # an update of a notice nobody has seen
]


def parsed(name):
    return parse_cap((CAP_DIR / name).read_bytes(), schema=load_cap_schema(), division_exists=default_table().exists)


@pytest.mark.parametrize("chain", CHAINS)
def test_rebuilt_registry_applies_each_next_message_like_the_original(chain):
    original, published = Registry(), []
    for name in chain:
        expected = apply_notice(original, parsed(name))
        rebuilt = apply_notice(registry_from_records(reversed(published)), parsed(name))  # order across topics is free
        assert (rebuilt.kind, rebuilt.records, rebuilt.problem) == (expected.kind, expected.records, expected.problem)
        assert registry_from_records(published + list(expected.records)) == expected.registry
        original = expected.registry
        published += list(expected.records)


def test_no_records_is_an_empty_registry():
    assert registry_from_records([]) == Registry()
