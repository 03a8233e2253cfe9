"""The validation worker's dedupe state on local disk: event_id -> first-seen ms per ingest
partition, in one RocksDB (rocksdict, raw bytes, TTL twice the window).

The durable copy is the *dedupe log* (``streams.runtime.dedupe.log``): one Kafka topic per ingest
topic, same partition count, to which the worker appends the ids a batch accepted after the
batch's outputs were acknowledged. The local store is a cache of that log: for every ingest
partition it keeps ``next_log_offset``, the log offset up to which it holds everything, and a
worker that takes a partition over replays the log from there (from the start on a new
machine). Its own appends advance ``next_log_offset`` only while they are contiguous, so an
append by another worker (a previous owner in a rebalance window) is never skipped.

Decisions are exact (no probabilistic filter): a false positive would drop a real report.
No I/O in the constructor; :meth:`open` opens the database.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path
from typing import Iterable

from streams.runtime.dedupe.window import is_duplicate

_MS = struct.Struct(">q")
_IDS = b"i"       # b"i" topic \0 partition \0 event_id -> first-seen ms
_OFFSETS = b"o"   # b"o" topic \0 partition             -> next dedupe-log offset to replay


@functools.lru_cache(maxsize=4096)  # one per ingest partition and kind; asked once per event
def _prefix(kind: bytes, topic: str, partition: int) -> bytes:
    return b"%s%s\x00%d\x00" % (kind, topic.encode(), partition)


class DedupeStore:
    def __init__(self, path: Path, window_ms: int) -> None:
        self.path = Path(path)
        self.window_ms = window_ms
        self._db = None
        self._next_offsets: dict[tuple[str, int], int] = {}  # write-through: only this store writes them

    def open(self) -> "DedupeStore":
        from rocksdict import AccessType, BlockBasedOptions, Cache, Options, Rdict

        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        # Bounded memory: the store only ever grows by ids and expires them by TTL. Memtables
        # (~115 bytes per id) are bounded at 2 x 4 MiB: full after ~35 s at 2,000 ids/s.
        options.set_write_buffer_size(4 * 1024 * 1024)
        options.set_max_write_buffer_number(2)
        # Almost every lookup is a miss (a new event). Without filters a miss reads an index and
        # a data block of every table file; with bloom filters (10 bits per key, ~1 % false
        # positives, which then read the block and get the exact answer) and a memtable filter it
        # costs 3-5 µs instead of 12-19 µs at 0.6-1.5 M ids (docs/performance.md).
        table = BlockBasedOptions()
        table.set_bloom_filter(10, False)
        # Bounded read memory: an 8 MiB block cache instead of RocksDB's default 32 MiB, which
        # filled up over a soak's first minutes (the worker's RSS rose to a plateau). Filters
        # stay with the table readers: in the cache they were evicted and a miss cost ~180 µs.
        table.set_block_cache(Cache(8 * 1024 * 1024))
        options.set_block_based_table_factory(table)
        options.set_memtable_prefix_bloom_ratio(0.1)
        options.set_memtable_whole_key_filtering(True)
        ttl_s = max(1, int(2 * self.window_ms / 1000))
        self._db = Rdict(str(self.path), options, access_type=AccessType.with_ttl(ttl_s))
        return self

    def close(self) -> None:
        self._next_offsets.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- decisions ---------------------------------------------------------------------

    def seen_before(self, topic: str, partition: int, event_id: str, now_ms: int) -> bool:
        raw = self._db.get(_prefix(_IDS, topic, partition) + event_id.encode())
        return raw is not None and is_duplicate(_MS.unpack(raw)[0], now_ms, self.window_ms)

    # --- state -------------------------------------------------------------------------

    def apply(self, topic: str, partition: int, event_ids: Iterable[str], first_seen_ms: int,
              log_offset: int | None = None) -> None:
        """Store ids (a batch's, or one dedupe-log record's) in one atomic write. ``log_offset``
        is the log offset of the record they came from: ``next_log_offset`` moves past it when
        it is the next one (contiguous), so nothing another writer appended is skipped."""
        self.apply_many([(topic, partition, event_ids, log_offset)], first_seen_ms)

    def apply_many(self, entries: Iterable[tuple[str, int, Iterable[str], int | None]], first_seen_ms: int) -> None:
        """:meth:`apply` for several (topic, partition, ids, log offset) at once, in one atomic
        write (a batch touches dozens of ingest partitions; one write per batch, not per partition)."""
        from rocksdict import WriteBatch

        batch = WriteBatch(raw_mode=True)
        value = _MS.pack(first_seen_ms)
        moved: dict[tuple[str, int], int] = {}
        for topic, partition, event_ids, log_offset in entries:
            prefix = _prefix(_IDS, topic, partition)
            for event_id in event_ids:
                batch.put(prefix + event_id.encode(), value)
            key = (topic, partition)
            if log_offset is not None and log_offset == moved.get(key, self.next_log_offset(topic, partition)):
                moved[key] = log_offset + 1
                batch.put(_prefix(_OFFSETS, topic, partition), _MS.pack(log_offset + 1))
        self._db.write(batch)
        self._next_offsets.update(moved)

    def next_log_offset(self, topic: str, partition: int) -> int:
        cached = self._next_offsets.get((topic, partition))
        if cached is None:
            raw = self._db.get(_prefix(_OFFSETS, topic, partition))
            cached = self._next_offsets[(topic, partition)] = _MS.unpack(raw)[0] if raw is not None else 0
        return cached

    def set_next_log_offset(self, topic: str, partition: int, offset: int) -> None:
        """After a replay reached ``offset`` (the log's end), or when the log's earliest
        offset is past the stored one (retention deleted what was not replayed: nothing of
        it can be inside the window any more)."""
        self._db.put(_prefix(_OFFSETS, topic, partition), _MS.pack(offset))
        self._next_offsets[(topic, partition)] = offset
