""""Data as of" and the banner state from what the consumer reports per partition."""

from connectors.console_feed.freshness import Freshness


def test_loading_until_every_partition_was_read_to_its_end_once():
    f = Freshness(stale_after_ms=10_000, started_ms=0)
    f.observe("a", 5, 5, 1_000)
    f.observe("b", 0, None, None)  # no fetch response yet
    assert f.status(2_000).state == "loading" and f.status(2_000).as_of_ms is None
    f.observe("b", 3, 7, 1_500)
    assert (f.status(2_000).state, f.status(2_000).lag_records) == ("loading", 4)
    f.observe("b", 7, 7, 1_800)
    status = f.status(2_000)
    assert (status.state, status.as_of_ms, status.lag_records) == ("live", 1_000, 0)  # the oldest partition's


def test_lagging_when_responses_arrive_but_the_view_falls_behind():
    f = Freshness(stale_after_ms=10_000, started_ms=0)
    f.observe("a", 10, 10, 1_000)
    f.observe("a", 10, 500, 20_000)  # written faster than read
    status = f.status(20_500)
    assert (status.state, status.as_of_ms, status.lag_records) == ("lagging", 1_000, 490)


def test_unreachable_without_a_response_for_the_stale_time_and_at_start():
    f = Freshness(stale_after_ms=10_000, started_ms=0)
    assert f.status(5_000).state == "loading"
    assert f.status(10_001).state == "unreachable"  # never reached the broker
    f.observe("a", 1, 1, 12_000)
    assert f.status(13_000).state == "live"
    assert f.status(22_001).state == "unreachable"  # the broker stopped answering
    assert f.status(22_001).as_of_ms == 12_000


def test_a_partition_no_longer_followed_does_not_hold_the_time_back():
    f = Freshness(stale_after_ms=10_000, started_ms=0)
    f.observe("a", 1, 1, 1_000)
    f.observe("gone", 0, 3, 1_000)
    f.forget_except({"a"})
    assert f.status(2_000).state == "live"
