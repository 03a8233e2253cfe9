"""Encode a record that differs from an already encoded one in a few primitive values by
splicing the new values' bytes into the old encoding instead of encoding the whole record.

The privacy policy makes one copy of every valid event per destination, and it only changes
primitive leaves: refs re-keyed (string), coordinates rounded (double), timestamps rounded
(long). Avro's binary encoding of a record is the concatenation of its fields' encodings, so
such a copy is the original bytes with those leaves' encodings replaced. That costs a few µs
where fastavro's ``schemaless_writer`` costs 10-20 µs per copy (docs/performance.md).

Safety: a leaf's old encoding is replaced only when it occurs exactly once in the payload
(overlapping occurrences included): the field's own encoding is certainly in the payload, so a
single occurrence is that field. Anything else (a value set to or from null, a union branch
change, a non-primitive or unknown field, an ambiguous occurrence) returns None, and the caller
encodes the record in full. For a canonically encoded original (every encoder's output,
fastavro's included) the result is byte-identical to encoding the new record.
"""

from __future__ import annotations

import struct
from typing import Any

from schemas.catalog import SchemaVersion
from schemas.wire import HEADER_SIZE

_PRIMITIVES = {"string", "long", "int", "double", "float"}
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def _varint(n: int) -> bytes:
    """Avro's zig-zag varint of an int or long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _leaf_bytes(kind: str, value: Any) -> bytes | None:
    if kind == "string":
        if type(value) is not str:
            return None
        raw = value.encode("utf-8")
        return _varint(len(raw)) + raw
    if kind in ("long", "int"):
        return _varint(value) if type(value) is int else None
    if type(value) is not float:
        return None
    return _DOUBLE.pack(value) if kind == "double" else _FLOAT.pack(value)


def _primitive(avro_type: Any) -> str | None:
    if isinstance(avro_type, dict):  # {"type": "long", "logicalType": ...}
        avro_type = avro_type.get("type")
    return avro_type if isinstance(avro_type, str) and avro_type in _PRIMITIVES else None


def _walk(fields: list, prefix: tuple, out: dict) -> None:
    for f in fields:
        t = f["type"]
        if isinstance(t, list):  # a union: only ["null", X] has a single non-null branch
            branches = [b for b in t if b != "null"]
            if len(branches) != 1:
                continue
            t = branches[0]
        path = (*prefix, f["name"])
        if isinstance(t, dict) and t.get("type") == "record":
            _walk(t["fields"], path, out)
        elif (kind := _primitive(t)) is not None:
            out[path] = kind


_KINDS: dict[int, dict[tuple[str, ...], str]] = {}


def leaf_kinds(version: SchemaVersion) -> dict[tuple[str, ...], str]:
    """Field path (("location", "lat"), ("worker_ref",)) -> Avro primitive, for every primitive
    leaf reachable through records and nullable unions (worked out once per schema id)."""
    kinds = _KINDS.get(version.schema_id)
    if kinds is None:
        kinds = _KINDS[version.schema_id] = {}
        _walk(version.schema["fields"], (), kinds)
    return kinds


def splice(encoded: bytes, version: SchemaVersion, old: dict, new: dict,
           paths: tuple[tuple[str, ...], ...]) -> bytes | None:
    """The wire-format bytes of ``new`` under ``version``, from ``encoded`` (``old``'s, same
    version), or None when that cannot be done by replacing primitive leaves (encode instead).
    ``new`` must differ from ``old`` at most in the leaves named by ``paths`` (the caller's
    contract, e.g. :data:`streams.core.policy.POLICY_LEAVES`); only those are compared. A path has
    one or two names (a field, or a field of a nested record)."""
    kinds = leaf_kinds(version)
    out = encoded
    for path in paths:  # plain loops: this runs for every copy of every event
        if len(path) == 1:
            before, after = old.get(path[0]), new.get(path[0])
        else:  # a leaf of a nested record; a record set to or from null is its own path's change
            parent_before, parent_after = old.get(path[0]), new.get(path[0])
            if type(parent_before) is not dict or type(parent_after) is not dict:
                continue
            before, after = parent_before.get(path[1]), parent_after.get(path[1])
        if after is before:
            continue
        kind_after = type(after)
        if kind_after is dict and type(before) is dict:  # a record: its leaves are in ``paths``
            continue
        if kind_after is type(before) and after == before:
            continue
        kind = kinds.get(path)
        if kind is None:
            return None
        old_bytes, new_bytes = _leaf_bytes(kind, before), _leaf_bytes(kind, after)
        if old_bytes is None or new_bytes is None:
            return None
        at = out.find(old_bytes, HEADER_SIZE)
        if at < 0 or out.find(old_bytes, at + 1) >= 0:
            return None
        out = b"".join((out[:at], new_bytes, out[at + len(old_bytes):]))
    return out
