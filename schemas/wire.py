"""Confluent wire format codec (hot path).

Layout of every message value on gigbridge topics::

    byte 0      magic byte, always 0
    bytes 1..4  schema id, big-endian (the catalog's explicit id, see catalog.yaml)
    bytes 5..   Avro binary of the record (no container header, "schemaless")

Records are plain Python dicts ("Python dict" form): unions are plain values (no
``{"string": ...}`` wrapping), enums are symbol strings, bytes are ``bytes``.

Logical types: the decoded record holds the underlying Avro value, i.e. **int epoch
milliseconds for timestamp-millis** (not ``datetime``), exactly like the example
payloads.  ``encode`` accepts int millis (preferred) or an aware ``datetime``.

Schema evolution: ``decode`` resolves the record from its writer version to the
LATEST version of the same contract, so consumers always see the latest shape
(new fields filled from their defaults).

All schemas are parsed once by the catalog; nothing is parsed per call.
"""

from __future__ import annotations

import io
import re
from typing import Any, NamedTuple

from fastavro import schemaless_reader, schemaless_writer

from .catalog import Catalog, SchemaVersion
from .shape import find_problem

__all__ = [
    "MAGIC_BYTE",
    "HEADER_SIZE",
    "WIRE_ERROR_REASONS",
    "Decoded",
    "EncodeError",
    "WireFormatError",
    "check",
    "decode",
    "encode",
    "peek_schema_id",
]

MAGIC_BYTE = 0
HEADER_SIZE = 5
WIRE_ERROR_REASONS = (
    "empty",
    "truncated",
    "bad_magic_byte",
    "unknown_schema_id",
    "avro_decode_error",
    "wrong_contract",
)

_ON_FIELD_RE = re.compile(r" on field ([A-Za-z_][A-Za-z0-9_]*)\s*$")


class EncodeError(ValueError):
    """A record does not fit its schema.

    ``field`` is the path of the offending field (``location.lat``,
    ``facilities[1]``) or None; ``message`` never contains the offending value.
    """

    def __init__(self, field: str | None, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class WireFormatError(ValueError):
    """Bytes that are not a decodable gigbridge wire-format message.

    ``reason`` is one of :data:`WIRE_ERROR_REASONS`; ``schema_id`` is the id read
    from the header when the header was readable.  ``message`` never contains
    payload bytes.
    """

    def __init__(self, reason: str, message: str, schema_id: int | None = None):
        assert reason in WIRE_ERROR_REASONS, reason
        self.reason = reason
        self.message = message
        self.schema_id = schema_id
        super().__init__(f"{reason}: {message}")


class Decoded(NamedTuple):
    """A decoded message (a NamedTuple: one is made per message on the hot path).

    ``version`` is the WRITER version (the schema id in the header: use it for
    rejection records / metrics).  ``record`` has the shape of ``reader``, the
    latest version of the contract: to re-encode ``record`` use ``reader``, not
    ``version`` (they differ once a contract has a v2 and a producer still sends v1).
    """

    version: SchemaVersion
    record: dict
    reader: SchemaVersion

    @property
    def schema_id(self) -> int:
        return self.version.schema_id

    @property
    def contract(self) -> str:
        return self.version.contract


def check(version: SchemaVersion, record: Any) -> None:
    """Raise :class:`EncodeError` if ``record`` does not fit ``version``'s schema.

    Strict: wrong Python types, out-of-range ints, unknown enum symbols, unknown
    fields and missing fields without default are all errors.  (Fields with a
    default may be omitted.)
    """
    problem = find_problem(version.checker, record)
    if problem is not None:
        raise EncodeError(*problem)


def encode(version: SchemaVersion, record: dict, *, validate: bool = True) -> bytes:
    """Encode ``record`` as a wire-format message with ``version``'s schema id.

    ``validate=False`` skips the strict shape check (:func:`check`) for records
    known to fit, e.g. ones just produced by :func:`decode` with the same
    version; fastavro then still rejects most, but not all, misfits (it silently
    truncates floats written to int fields, for example).
    """
    if validate:
        problem = find_problem(version.checker, record)
        if problem is not None:
            raise EncodeError(*problem)
    buf = io.BytesIO()
    buf.write(version.header)
    try:
        schemaless_writer(buf, version.parsed, record, strict_allow_default=True)
    except Exception as exc:  # fastavro raises ValueError/TypeError/KeyError/...
        # fastavro's messages embed the value: keep only the field name.
        m = _ON_FIELD_RE.search(str(exc)) if isinstance(exc, (ValueError, TypeError)) else None
        problem = find_problem(version.checker, record)
        if problem is not None:
            raise EncodeError(*problem) from None
        raise EncodeError(
            m.group(1) if m else None,
            f"record does not fit {version.contract} v{version.version} ({type(exc).__name__})",
        ) from None
    return buf.getvalue()


def peek_schema_id(data: bytes) -> int | None:
    """Schema id from a wire-format header, or None if the header is unusable."""
    if len(data) < HEADER_SIZE or data[0] != MAGIC_BYTE:
        return None
    return int.from_bytes(data[1:HEADER_SIZE], "big")


def decode(catalog: Catalog, data: bytes, *, expect_contract: str | None = None) -> Decoded:
    """Decode a wire-format message; the record is resolved to the latest version.

    Raises :class:`WireFormatError` with ``reason`` one of :data:`WIRE_ERROR_REASONS`.
    Timestamps come back as int epoch millis.
    """
    if not data:
        raise WireFormatError("empty", "message value is empty")
    size = len(data)
    if size < HEADER_SIZE:
        raise WireFormatError(
            "truncated", f"message is {size} bytes, shorter than the {HEADER_SIZE}-byte wire-format header"
        )
    if data[0] != MAGIC_BYTE:
        raise WireFormatError("bad_magic_byte", f"first byte must be the magic byte {MAGIC_BYTE}")
    schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
    writer = catalog.by_id(schema_id)
    if writer is None:
        raise WireFormatError("unknown_schema_id", f"schema id {schema_id} is not in the catalog", schema_id)
    if expect_contract is not None and writer.contract != expect_contract:
        raise WireFormatError(
            "wrong_contract",
            f"schema id {schema_id} is {writer.contract} v{writer.version}, expected a {expect_contract} schema",
            schema_id,
        )
    latest = catalog.contract(writer.contract).latest
    buf = io.BytesIO(data)
    buf.seek(HEADER_SIZE)
    try:
        if latest is writer:
            record = schemaless_reader(buf, writer.read_parsed)
        else:
            record = schemaless_reader(buf, writer.read_parsed, latest.read_parsed)
    except Exception as exc:  # EOFError, UnicodeDecodeError, IndexError, SchemaResolutionError, ...
        # str(exc) may quote payload bytes (e.g. UnicodeDecodeError): type name only.
        raise WireFormatError(
            "avro_decode_error",
            f"payload does not decode as {writer.contract} v{writer.version} ({type(exc).__name__})",
            schema_id,
        ) from None
    consumed = buf.tell()
    if consumed != size:
        raise WireFormatError(
            "avro_decode_error",
            f"{size - consumed} trailing byte(s) after the {writer.contract} v{writer.version} record",
            schema_id,
        )
    return Decoded(writer, record, latest)
