"""The mappings a partition's :class:`~streams.core.cover.state.CoverState` is made of in the
runtime: plain ``MutableMapping`` / ``MutableSet`` objects over RocksDB, so the pure state
machines (``streams.core.cover``) run unchanged while the history lives on disk.

Each mapping reads, in this order: the changes of the unit of work in progress (``changes``),
a bounded cache of durable values, RocksDB. Writes only go to ``changes``; the stage makes them
durable (:meth:`StoredMap.take_changes`, then :meth:`StoredMap.committed`) after a batch's
outputs are acknowledged, or with a close's outputs in an outbox commit
(``streams.runtime.cover_state.outbox``), or drops them if anything failed
(:meth:`StoredMap.rollback`), so the state never holds what was not persisted and either emitted
or committed to be. Memory: the open changes plus at
most ``cache_size`` durable entries per mapping, whatever the size of the history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping, MutableSet
from typing import Any

from streams.runtime.cover_state.codec import Kind

DELETED = object()  # a change that removes the key
_ABSENT = object()  # not in the changes / not in the cache


class StoredMap(MutableMapping):
    """``db``: a raw-mode rocksdict ``Rdict``; rows are ``prefix + kind.encode_key(key)``."""

    def __init__(self, db, prefix: bytes, kind: Kind, cache_size: int) -> None:
        self.db, self.prefix, self.kind, self.cache_size = db, prefix, kind, cache_size
        self.changes: dict[Any, Any] = {}  # key -> value or DELETED, not durable yet
        self._cache: OrderedDict[Any, Any] = OrderedDict()  # key -> durable value, or None: known absent

    def _durable(self, key: Any) -> Any:
        value = self._cache.get(key, _ABSENT)
        if value is _ABSENT:
            raw = self.db.get(self.prefix + self.kind.encode_key(key))
            value = None if raw is None else self.kind.decode_value(raw)
            if len(self._cache) >= self.cache_size:
                self._cache.popitem(last=False)  # oldest first (O(1)); a hot key is read back at once
            self._cache[key] = value
        return value

    def get(self, key: Any, default: Any = None) -> Any:  # once per order: no KeyError on a miss
        value = self.changes.get(key, _ABSENT)
        if value is _ABSENT:
            value = self._durable(key)
        return default if value is None or value is DELETED else value

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _ABSENT)
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key, _ABSENT) is not _ABSENT

    def __setitem__(self, key: Any, value: Any) -> None:
        self.changes[key] = value

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self.changes[key] = DELETED

    def __iter__(self) -> Iterator[Any]:
        """Durable keys (a scan of the prefix) merged with the changes; do not write while iterating."""
        for raw in _scan_keys(self.db, self.prefix + self.kind.letter + b"\x00"):
            key = self.kind.decode_key(raw[len(self.prefix):])
            if key not in self.changes:
                yield key
        for key, value in self.changes.items():
            if value is not DELETED:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def take_changes(self) -> list[tuple[bytes, bytes | None]]:
        """The open changes as (row key without the prefix, value bytes or None: delete)."""
        kind = self.kind
        return [(kind.encode_key(k), None if v is DELETED else kind.encode_value(v)) for k, v in self.changes.items()]

    def committed(self) -> None:
        """The changes are in RocksDB: they become cached durable values."""
        for key, value in self.changes.items():
            if key in self._cache or len(self._cache) < self.cache_size:
                self._cache[key] = None if value is DELETED else value
        self.changes.clear()

    def rollback(self) -> None:
        self.changes.clear()

    def forget(self) -> None:
        """Drop the cache (the rows may change under another owner of the partition)."""
        self.changes.clear()
        self._cache.clear()


class StoredSet(MutableSet):
    """A set as the keys of a :class:`StoredMap` (values are ``True``)."""

    def __init__(self, members: StoredMap) -> None:
        self.members = members

    def __contains__(self, key: object) -> bool:
        return key in self.members

    def __iter__(self) -> Iterator[Any]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def add(self, key: Any) -> None:
        self.members[key] = True

    def discard(self, key: Any) -> None:
        if key in self.members:
            del self.members[key]


def _scan_keys(db, start: bytes) -> Iterator[bytes]:
    it = db.iter()
    it.seek(start)
    while it.valid():
        key = it.key()
        if not key.startswith(start):
            return
        yield key
        it.next()
