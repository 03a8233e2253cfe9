"""DedupeStore: exact decisions per ingest partition, and the contiguity rule for the log offset."""

import pytest

from streams.runtime.dedupe.store import DedupeStore

WINDOW_MS = 1000


@pytest.fixture
def store(open_store):
    return open_store(WINDOW_MS)


def test_ids_are_remembered_per_ingest_partition_inside_the_window(store):
    store.apply("platform.a.sites", 0, ["e1", "e2"], first_seen_ms=10_000)
    assert store.seen_before("platform.a.sites", 0, "e1", 10_999)
    assert not store.seen_before("platform.a.sites", 0, "e1", 11_000)  # one window later: new again
    assert not store.seen_before("platform.a.sites", 1, "e1", 10_500)  # another partition
    assert not store.seen_before("platform.b.sites", 0, "e1", 10_500)  # another topic
    assert not store.seen_before("platform.a.sites", 0, "e3", 10_500)


def test_log_offset_advances_only_when_contiguous(store):
    t = "platform.a.sites"
    assert store.next_log_offset(t, 0) == 0
    store.apply(t, 0, ["e1"], 1, log_offset=0)
    store.apply(t, 0, ["e2"], 1, log_offset=1)
    assert store.next_log_offset(t, 0) == 2
    store.apply(t, 0, ["e4"], 1, log_offset=3)  # offset 2 was written by someone else
    assert store.next_log_offset(t, 0) == 2 and store.seen_before(t, 0, "e4", 2)
    store.set_next_log_offset(t, 0, 4)  # a replay caught up to the end
    assert store.next_log_offset(t, 0) == 4 and store.next_log_offset(t, 1) == 0


def test_apply_many_stores_several_partitions_in_one_write_with_the_same_contiguity_rule(tmp_path):
    path, t = tmp_path / "dedupe", "platform.a.sites"
    store = DedupeStore(path, WINDOW_MS).open()
    store.apply_many([(t, 0, ["e1"], 0), (t, 1, ["e2"], 5), (t, 0, ["e3"], 1), ("platform.a.incidents", 0, ["e4"], None)],
                     first_seen_ms=1)
    assert all(store.seen_before(topic, p, e, 2) for topic, p, e in
               [(t, 0, "e1"), (t, 1, "e2"), (t, 0, "e3"), ("platform.a.incidents", 0, "e4")])
    assert store.next_log_offset(t, 0) == 2  # 0 then 1, contiguous inside one call
    assert store.next_log_offset(t, 1) == 0  # offsets 0-4 of partition 1 were written by someone else
    store.close()
    again = DedupeStore(path, WINDOW_MS).open()  # what the cache said is what was written
    try:
        assert again.next_log_offset(t, 0) == 2 and again.next_log_offset(t, 1) == 0
    finally:
        again.close()


def test_state_survives_reopening(tmp_path):
    path = tmp_path / "dedupe"
    first = DedupeStore(path, WINDOW_MS).open()
    first.apply("platform.a.incidents", 2, ["e1"], 5_000, log_offset=0)
    first.close()
    again = DedupeStore(path, WINDOW_MS).open()
    try:
        assert again.seen_before("platform.a.incidents", 2, "e1", 5_500)
        assert again.next_log_offset("platform.a.incidents", 2) == 1
    finally:
        again.close()


def test_constructor_does_no_io(tmp_path):
    DedupeStore(tmp_path / "nowhere" / "dedupe", WINDOW_MS)
    assert not (tmp_path / "nowhere").exists()
