"""Bytes for each kind of cover-state entry: the key and value of one RocksDB row, which are also
the key and value of its record in the changelog (``streams.runtime.cover_state.changelog``).

A key is ``<kind letter> \\0 <entry key>``, the entry key's parts joined by ``\\x1f`` (none of
them can hold it: platform ids, province codes, 64-hex pseudonyms, ISO dates, event ids);
a value is compact JSON. The forms are those of :func:`streams.core.cover.state.to_plain`, per
entry, so a row can be written and read alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from streams.core.cover.state import DayCover, DayKey, OrderSeen, PendingIncident, Statement, StatementKey

_SEP = "\x1f"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Kind:
    """One mapping of :class:`~streams.core.cover.state.CoverState`: its letter and codecs."""

    letter: bytes
    key_to_str: Callable[[Any], str]
    key_from_str: Callable[[str], Any]
    to_plain: Callable[[Any], Any]
    from_plain: Callable[[Any], Any]

    def encode_key(self, key: Any) -> bytes:
        return self.letter + b"\x00" + self.key_to_str(key).encode()

    def decode_key(self, raw: bytes) -> Any:
        return self.key_from_str(raw[len(self.letter) + 1:].decode())

    def encode_value(self, value: Any) -> bytes:
        return _dumps(self.to_plain(value))

    def decode_value(self, raw: bytes) -> Any:
        return self.from_plain(json.loads(raw))


def _tuple_kind(letter: bytes, key_type, to_plain, from_plain) -> Kind:
    return Kind(letter, _SEP.join, lambda s: key_type(*s.split(_SEP)), to_plain, from_plain)


def _plain(key: str) -> str:
    return key


# Rows written before statements held counts (a day with its order_refs, a statement with its
# workers) are read too: the refs are dropped (the order rows name their day), the set counted.
DAYS = _tuple_kind(b"d", DayKey,
                   lambda d: [d.orders, d.premium_fen, d.first_order_at, d.last_order_at, d.emitted_version],
                   lambda v: DayCover(v[0], v[1], v[2], v[3], v[-1]))
STATEMENTS = _tuple_kind(b"s", StatementKey,
                         lambda s: [s.orders, s.premium_fen, s.workers, s.emitted_version],
                         lambda v: Statement(v[0], v[1], v[2] if isinstance(v[2], int) else len(v[2]), v[3]))
ORDERS = Kind(b"o", _plain, _plain, lambda o: [list(o.day), o.event_id], lambda v: OrderSeen(DayKey(*v[0]), v[1]))
PENDING = Kind(b"p", _plain, _plain, lambda p: [p.record, p.deadline_ms], lambda v: PendingIncident(v[0], v[1]))
DECIDED = Kind(b"i", _plain, _plain, lambda date: date, lambda date: date)
# Sets (members only, the value is always true): the days and statements not emitted yet.
OPEN_DAYS = _tuple_kind(b"D", DayKey, lambda _: 1, lambda _: True)
OPEN_STATEMENTS = _tuple_kind(b"S", StatementKey, lambda _: 1, lambda _: True)

KINDS: tuple[Kind, ...] = (DAYS, STATEMENTS, ORDERS, PENDING, DECIDED, OPEN_DAYS, OPEN_STATEMENTS)
