"""The cover close's outbox: a close's state changes and output records, made durable in the
changelog as one commit *before* the outputs are sent (a redo log).

Why: a batch's outputs are a function of the restored state and the re-read inputs, so a batch
may send first and persist after. A close is driven by the clock, not by an input: if its
outputs went out and its state did not (a kill -9 in between), the next close, after more
orders were read again, would send the same version with other totals, and the insurer keeps
the first copy of a version. So a close is written down before anything of it leaves.

Rows, in the changelog partition (and the local store partition) of the close's input partition:

* ``x\\0<close id>\\x1f<n>`` -- part n: a JSON list of ``["row", key, value]`` (a state change;
  value null: a delete) and ``["out", kind, topic, key, value, headers, partition]`` (an output
  record), bytes in base64. Parts stay under :data:`PART_BYTES` (Kafka's default record limit
  is 1 MB), so a close of any size fits.
* ``X\\0<close id>`` -- the commit, written once every part is acknowledged; value: the number
  of parts. A single record is atomic, so a close is either committed whole or not at all.

A committed close is completed by: its state rows to the changelog and the store, its outputs
sent (the same bytes and keys every time), then the commit tombstoned, then its parts. Parts
without a commit (a crash before the commit point) are discarded: nothing of them was sent.
Pure: bytes in, bytes out; the stage (``streams.runtime.cover_step``) does the I/O.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from streams.core.plan import Delivery

PART_PREFIX, COMMIT_PREFIX = b"x\x00", b"X\x00"
PART_BYTES = 256 * 1024
_SEP = b"\x1f"

Change = tuple[bytes, bytes | None]  # as streams.runtime.cover_state.store.Change


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode()


def _raw(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


@dataclass(frozen=True)
class Close:
    """One close of one partition: its state changes and outputs, and the outbox rows naming it."""

    close_id: bytes
    changes: list[Change]
    deliveries: list[Delivery]
    part_keys: list[bytes] = field(default_factory=list)

    @property
    def commit_key(self) -> bytes:
        return COMMIT_PREFIX + self.close_id

    def cleared(self) -> tuple[list[Change], list[Change]]:
        """Tombstones, in two writes: the commit first, so a crash half way leaves parts only
        (discarded), never a commit without its parts."""
        return [(self.commit_key, None)], [(key, None) for key in self.part_keys]


def _items(changes: list[Change], deliveries: list[Delivery]) -> list[list]:
    rows = [["row", _b64(key), _b64(value)] for key, value in changes]
    outs = [["out", d.kind, d.topic, _b64(d.key), _b64(d.value), [[h, _b64(v)] for h, v in d.headers], d.partition]
            for d in deliveries]
    return rows + outs


def staged(close_id: str, changes: list[Change], deliveries: list[Delivery],
           part_bytes: int = PART_BYTES) -> tuple[Close, list[Change], Change]:
    """The close, its part rows and its commit row."""
    parts: list[list] = [[]]
    size = 0
    for item in _items(changes, deliveries):
        item_size = len(json.dumps(item))
        if parts[-1] and size + item_size > part_bytes:
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_size
    cid = close_id.encode()
    part_rows = [(_part_key(cid, n), json.dumps(p, separators=(",", ":")).encode())
                 for n, p in enumerate(parts)]
    close = Close(cid, list(changes), list(deliveries), [key for key, _ in part_rows])
    return close, part_rows, (close.commit_key, str(len(part_rows)).encode())


def pending(part_rows: list[Change], commit_rows: list[Change]) -> tuple[list[Close], list[Change]]:
    """From the outbox rows of one partition: the committed closes not completed yet (oldest
    first), and tombstones for the rest -- parts no commit names, and a commit whose parts are
    gone (its clearing had begun, so it was complete; the stage clears a commit before its parts,
    in its own write, so this is only a guard)."""
    parts: dict[bytes, dict[int, bytes]] = {}
    for key, value in part_rows:
        cid, n = key[len(PART_PREFIX):].rsplit(_SEP, 1)
        parts.setdefault(cid, {})[int(n)] = value
    closes, leftovers = [], []
    for key, value in sorted(commit_rows):
        cid = key[len(COMMIT_PREFIX):]
        mine = parts.pop(cid, {})
        part_keys = [_part_key(cid, n) for n in sorted(mine)]
        if any(n not in mine for n in range(int(value))):
            leftovers += [(key, None)] + [(k, None) for k in part_keys]
            continue
        items = [item for n in range(int(value)) for item in json.loads(mine[n])]
        changes = [(_raw(i[1]), _raw(i[2])) for i in items if i[0] == "row"]
        deliveries = [Delivery(i[1], i[2], _raw(i[3]), _raw(i[4]), tuple((h, _raw(v)) for h, v in i[5]), i[6])
                      for i in items if i[0] == "out"]
        closes.append(Close(cid, changes, deliveries, part_keys))
    leftovers += [(_part_key(cid, n), None) for cid, ns in parts.items() for n in ns]
    return closes, leftovers


def _part_key(close_id: bytes, n: int) -> bytes:
    return PART_PREFIX + close_id + _SEP + b"%06d" % n
