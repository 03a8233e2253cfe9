"""The disk-backed cover state: the pure state machines give the same state over the RocksDB
mappings as over plain dicts (across commits, a tiny cache and a reopen), a rollback forgets
exactly the open changes, and a store rebuilt from the changelog rows equals the original."""

from __future__ import annotations

from streams.core.cover.daycover import apply_order, close_due
from streams.core.cover.gaps import check_incident
from streams.core.cover.state import CoverState, DayCover, Statement, to_plain
from streams.runtime.cover_state import codec
from streams.runtime.cover_state.store import CoverStore
from tests.support.cover_inputs import CLOSED, NOON, PLATFORM, DIVISION, ref


def order(n: int, worker: str, event: str | None = None) -> dict:
    return {"event_id": event or f"ev-{n}", "platform_id": PLATFORM, "order_ref": ref(f"o{n}"),
            "worker_ref": ref(worker), "division_code": DIVISION, "accepted_at": NOON + n * 60_000, "premium_fen": 4}


INCIDENT = {"event_id": "inc-ev", "platform_id": PLATFORM, "incident_id": "INC-1", "worker_ref": ref("w9"),
            "order_ref": ref("never"), "division_code": DIVISION, "occurred_at": NOON, "insured": True}


def feed(state, commit=lambda: None):
    """Orders of three workers (with a replay and a duplicate premium), a pending incident, a
    close, a late order; ``commit`` after each step."""
    steps = [lambda s: apply_order(s, order(n, f"w{n % 3}"), NOON) for n in range(12)]
    steps += [lambda s: apply_order(s, order(3, "w0"), NOON), lambda s: apply_order(s, order(4, "w1", "dup"), NOON),
              lambda s: check_incident(s, INCIDENT, NOON), lambda s: close_due(s, CLOSED),
              lambda s: apply_order(s, order(20, "w2"), CLOSED)]
    emitted = []
    for step in steps:
        emitted += step(state)[1]
        commit()
    return emitted


def durable(store, partition=0):
    ps = store.partition(partition)

    def commit():
        store.apply(partition, ps.take_changes(), None, None)
        ps.committed()
    return ps, commit


def test_the_stored_state_behaves_exactly_like_the_plain_one(tmp_path):
    plain = CoverState()
    expected = feed(plain)
    store = CoverStore(tmp_path / "a", cache_size=2).open()  # a tiny cache: most reads go to disk
    ps, commit = durable(store)
    assert feed(ps.state, commit) == expected
    assert to_plain(ps.state) == to_plain(plain)
    store.close()
    reopened = CoverStore(tmp_path / "a").open()
    assert to_plain(reopened.partition(0).state) == to_plain(plain)
    assert to_plain(reopened.partition(1).state) == to_plain(CoverState())  # partitions are separate
    reopened.close()


def test_a_rollback_forgets_the_open_changes_only(tmp_path):
    store = CoverStore(tmp_path / "a").open()
    ps, commit = durable(store)
    apply_order(ps.state, order(1, "w1"), NOON)
    commit()
    before = to_plain(ps.state)
    apply_order(ps.state, order(2, "w1"), NOON)
    close_due(ps.state, CLOSED)
    store.rollback()
    assert to_plain(ps.state) == before
    store.close()


def test_the_changelog_rows_rebuild_the_same_state_elsewhere(tmp_path):
    original = CoverStore(tmp_path / "a").open()
    ps = original.partition(3)
    log = []  # what the stage appends to the changelog: every unit's rows, tombstones included

    def commit():
        changes = ps.take_changes()
        log.extend(changes)
        original.apply(3, changes, None, None)
        ps.committed()
    feed(ps.state, commit)
    rebuilt = CoverStore(tmp_path / "b").open()
    rebuilt.apply(3, log, 0, len(log))
    assert rebuilt.next_changelog_offset(3) == len(log)
    assert to_plain(rebuilt.partition(3).state) == to_plain(ps.state)
    assert any(value is None for _, value in log)  # closes and decided incidents remove rows
    original.close()
    rebuilt.close()


def test_rows_written_before_statements_held_counts_are_still_read():
    day = codec.DAYS.decode_value(b'[3,15,100,200,["r1","r2","r3"],1]')
    statement = codec.STATEMENTS.decode_value(b'[3,15,["w1","w2"],0]')
    assert day == DayCover(3, 15, 100, 200, 1)
    assert statement == Statement(3, 15, 2, 0)
    assert codec.DAYS.decode_value(codec.DAYS.encode_value(day)) == day
    assert codec.STATEMENTS.decode_value(codec.STATEMENTS.encode_value(statement)) == statement
