"""The premium rate table: loading, the append-only rule (locked digests), rate_in_force."""

from __future__ import annotations

import pytest

from streams.core.cover.cst import day_start_ms
from streams.core.cover.rates import RateTableError, lock_text, parse_lock, parse_rates
from streams.loaders.cover import DEFAULT_LOCK_PATH, DEFAULT_RATES_PATH, load_rates, lock_new_rate_versions

TEXT = DEFAULT_RATES_PATH.read_text(encoding="utf-8")
LOCK = DEFAULT_LOCK_PATH.read_text(encoding="utf-8")
NEW_VERSION = """
  - id: "2026-07"
    effective_from: "2026-07-01T00:00:00+08:00"
    default: {RIDE_HAILING: 5, INSTANT_DELIVERY: 4, SAME_CITY_FREIGHT: 7}
"""


def test_committed_rates_match_their_lock():
    table = load_rates()
    assert [v.id for v in table.versions] == list(parse_lock(LOCK))
    assert lock_text(table).splitlines() == [line for line in LOCK.splitlines() if not line.startswith("#")]


def test_rate_in_force_follows_effective_dates_and_province_overrides():
    table = load_rates()
    new_year = day_start_ms("2026-01-01")
    assert table.rate_in_force("44", "RIDE_HAILING", new_year - 1).version == "2025-07"
    assert table.rate_in_force("44", "RIDE_HAILING", new_year).version == "2026-01"
    assert table.rate_in_force("44", "RIDE_HAILING", new_year).premium_fen == 5  # Guangdong override
    assert table.rate_in_force("51", "RIDE_HAILING", new_year).premium_fen == 4  # default row
    assert table.rate_in_force("31", "SAME_CITY_FREIGHT", new_year).premium_fen == 7
    assert table.rate_in_force("31", "SAME_CITY_FREIGHT", new_year - 1).premium_fen == 5
    assert table.rate_in_force("31", "INSTANT_DELIVERY", day_start_ms("2025-06-30")) is None  # before any version
    assert table.rate_in_force("31", "COURIER", new_year) is None


def test_an_edited_past_version_is_refused():
    edited = TEXT.replace("default: {RIDE_HAILING: 4, INSTANT_DELIVERY: 3, SAME_CITY_FREIGHT: 5}",
                          "default: {RIDE_HAILING: 4, INSTANT_DELIVERY: 2, SAME_CITY_FREIGHT: 5}")
    assert edited != TEXT
    parse_rates(edited)  # fine on its own...
    with pytest.raises(RateTableError, match="2025-07 was edited in place"):
        parse_rates(edited, LOCK)  # ...but not against the committed digests


def test_comments_and_layout_do_not_count_as_edits():
    parse_rates(TEXT.replace('note: "National rollout."', 'note: "National rollout."  # 全国推开'), LOCK)


def test_a_removed_or_reordered_version_is_refused():
    first_start = TEXT.index('  - id: "2025-07"')
    second_start = TEXT.index('  - id: "2026-01"')
    without_first = TEXT[:first_start] + TEXT[second_start:]
    with pytest.raises(RateTableError, match="missing or moved"):
        parse_rates(without_first, LOCK)


def test_a_new_version_is_appended_then_locked(tmp_path):
    rates, lock = tmp_path / "rates.yaml", tmp_path / "rates.lock"
    rates.write_text(TEXT + NEW_VERSION)
    lock.write_text(LOCK)
    table = load_rates(rates, lock)  # an unlocked version after the locked ones is allowed
    assert table.rate_in_force("11", "INSTANT_DELIVERY", day_start_ms("2026-07-01")).premium_fen == 4
    assert [line.split()[0] for line in lock_new_rate_versions(rates, lock)] == ["2026-07"]
    assert list(parse_lock(lock.read_text())) == ["2025-07", "2026-01", "2026-07"]
    assert lock_new_rate_versions(rates, lock) == []


def test_effective_from_must_increase():
    backdated = NEW_VERSION.replace("2026-07-01T00:00:00", "2025-12-01T00:00:00")
    with pytest.raises(RateTableError, match="must be after 2026-01"):
        parse_rates(TEXT + backdated)


@pytest.mark.parametrize(("change", "message"), [
    (("2026-07-01T00:00:00+08:00", "2026-07-01T00:00:00"), "with an offset"),
    (("SAME_CITY_FREIGHT: 7}", "SAME_CITY_FREIGHT: 0}"), "positive whole number"),
    (("SAME_CITY_FREIGHT: 7}", "SAME_CITY_FREIGHT: 7.5}"), "positive whole number"),
    ((", SAME_CITY_FREIGHT: 7}", "}"), "every one of"),
    (('id: "2026-07"', 'id: "2026-01"'), "used twice"),
])
def test_malformed_versions_are_refused(change, message):
    with pytest.raises(RateTableError, match=message):
        parse_rates(TEXT + NEW_VERSION.replace(*change))


def test_province_codes_must_be_quoted_two_digit_codes():
    with pytest.raises(RateTableError, match="2-digit code"):
        parse_rates(TEXT + NEW_VERSION + '    provinces: {440: {RIDE_HAILING: 6}}\n')
