"""streams.runtime.dedupe.Dedupe, the one interface of the dedupe state: ids held by a batch in flight
count as seen; persisted, they are in the store once the future resolves and no longer held;
released (the batch's outputs failed), they are not seen; a failed log write fails the future
and leaves nothing held or stored."""

import asyncio

from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from streams.runtime.dedupe import Dedupe
from tests.streams.runtime.test_dedupe_flush import RecordingLog

T = "platform.a.sites"
NOW = 1_000_000


def make(tmp_path, log: RecordingLog) -> Dedupe:
    dedupe = Dedupe(Settings(data_dir=tmp_path, dedupe_log_interval_ms=1), default_catalog(), log.write, admin=None)
    dedupe.open()
    return dedupe


def test_held_ids_are_seen_until_persisted_then_stored(tmp_path):
    log = RecordingLog()

    async def scenario():
        dedupe = make(tmp_path, log)
        try:
            held = dedupe.hold({(T, 0): ["e1", "e2"]}, NOW)
            assert dedupe.seen_before(T, 0, "e1", NOW) and not dedupe.seen_before(T, 1, "e1", NOW)
            durable = dedupe.persist(held)
            await asyncio.wait_for(durable, 5)
            assert not dedupe.pending
            assert dedupe.store.seen_before(T, 0, "e2", NOW + 1)
            assert dedupe.persist(dedupe.hold({}, NOW)) is None  # nothing accepted: nothing to wait for
        finally:
            await dedupe.close()
    asyncio.run(scenario())
    assert len(log.writes) == 1


def test_released_ids_are_not_seen(tmp_path):
    async def scenario():
        dedupe = make(tmp_path, RecordingLog())
        try:
            held = dedupe.hold({(T, 0): ["e1"]}, NOW)
            dedupe.release(held)
            assert not dedupe.seen_before(T, 0, "e1", NOW) and not dedupe.pending
        finally:
            await dedupe.close()
    asyncio.run(scenario())


def test_a_failed_log_write_fails_the_future_and_keeps_nothing(tmp_path):
    async def scenario():
        dedupe = make(tmp_path, RecordingLog(fail=True))
        try:
            durable = dedupe.persist(dedupe.hold({(T, 0): ["e1"]}, NOW))
            try:
                await asyncio.wait_for(durable, 5)
            except ConnectionError:
                pass
            else:
                raise AssertionError("the write failed, the future must too")
            assert not dedupe.pending and not dedupe.seen_before(T, 0, "e1", NOW)
        finally:
            await dedupe.close()
    asyncio.run(scenario())
