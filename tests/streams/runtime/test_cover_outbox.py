"""The close outbox's rows (``streams.runtime.cover_state.outbox``, pure): a close split into
parts reads back as the same changes and records; parts without a commit, and a commit whose
parts are gone, are only cleared."""

from __future__ import annotations

from streams.core.plan import Delivery
from streams.runtime.cover_state import outbox

CHANGES = [(b"d\x00k%d" % n, b"v" * 50) for n in range(20)] + [(b"D\x00gone", None)]
DELIVERIES = [Delivery("cover", "gov.insurance.31.cover", b"key-%d" % n, bytes(range(256)), (("h", b"\x00\xff"),))
              for n in range(5)] + [Delivery("cover", "t", None, b"", (), 3)]


def test_a_close_in_many_parts_reads_back_as_it_was_written():
    close, parts, commit = outbox.staged("000000000000042", CHANGES, DELIVERIES, part_bytes=300)
    assert len(parts) > 3 and all(key.startswith(outbox.PART_PREFIX) for key, _ in parts)
    assert commit == (outbox.COMMIT_PREFIX + b"000000000000042", str(len(parts)).encode())
    [back], leftovers = outbox.pending(parts, [commit])
    assert (back.changes, back.deliveries, back.part_keys) == (CHANGES, DELIVERIES, close.part_keys)
    assert leftovers == []
    first, then = back.cleared()
    assert first == [(commit[0], None)] and then == [(key, None) for key, _ in parts]


def test_parts_without_a_commit_and_a_commit_without_its_parts_are_cleared_not_completed():
    _, parts_a, _ = outbox.staged("000000000000001", CHANGES, DELIVERIES, part_bytes=300)
    _, parts_b, commit_b = outbox.staged("000000000000002", CHANGES, DELIVERIES, part_bytes=300)
    closes, leftovers = outbox.pending(parts_a + parts_b[1:], [commit_b])
    assert closes == []
    assert sorted(leftovers) == sorted([(commit_b[0], None)] + [(key, None) for key, _ in parts_a + parts_b[1:]])
