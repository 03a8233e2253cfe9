"""A small Avro -> JSON Schema (2020-12, as used by OpenAPI 3.1) converter.

It describes the JSON form the gateway accepts, which is the "Python dict" form of
``schemas.wire`` (see schemas/examples/README.md): unions are plain values (no Avro-JSON
``{"string": ...}`` wrapping), enums are symbol strings, ``timestamp-millis`` is an integer of
epoch milliseconds. Records are closed (``additionalProperties: false``) because the hub
refuses unknown fields; fields with a default are optional.

Only the structure is converted. Business rules (UUID event ids, existing division codes, time
windows, count sums, ...) are checked by the hub and stay in the field descriptions.

    >>> avro_to_json_schema({"type": "record", "name": "P", "fields": [
    ...     {"name": "n", "type": "int"}, {"name": "s", "type": ["null", "string"], "default": None}]})["required"]
    ['n']
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["AvroConversionError", "avro_to_json_schema"]

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

_PRIMITIVES: dict[str, dict[str, Any]] = {
    "null": {"type": "null"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer", "minimum": INT32[0], "maximum": INT32[1]},
    "long": {"type": "integer", "minimum": INT64[0], "maximum": INT64[1]},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "string": {"type": "string"},
    "bytes": {"type": "string", "contentEncoding": "base64"},
}

_LOGICAL_NOTES = {
    "timestamp-millis": "UTC epoch milliseconds",
    "timestamp-micros": "UTC epoch microseconds",
    "local-timestamp-millis": "local epoch milliseconds",
    "local-timestamp-micros": "local epoch microseconds",
    "date": "days since 1970-01-01",
    "time-millis": "milliseconds after midnight",
    "time-micros": "microseconds after midnight",
}


class AvroConversionError(ValueError):
    """The Avro schema uses something this converter does not support."""


def _full_name(schema: dict, namespace: str | None) -> tuple[str, str | None]:
    name = schema["name"]
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    ns = schema.get("namespace", namespace)
    return (f"{ns}.{name}" if ns else name), ns


def avro_to_json_schema(schema: Any, *, title: str | None = None) -> dict[str, Any]:
    """JSON Schema of the JSON form of values of the Avro ``schema`` (a parsed .avsc)."""
    result = _Converter().convert(schema, None, ())
    if title:
        result = {"title": title, **result}
    return result


class _Converter:
    def __init__(self) -> None:
        self.named: dict[str, dict[str, Any]] = {}

    def convert(self, schema: Any, namespace: str | None, stack: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return dict(_PRIMITIVES[schema])
            name = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
            for candidate in (name, schema):
                if candidate in stack:
                    raise AvroConversionError(f"recursive type {candidate!r} is not supported")
                if candidate in self.named:
                    return copy.deepcopy(self.named[candidate])
            raise AvroConversionError(f"unknown type name {schema!r}")
        if isinstance(schema, list):
            return self._union(schema, namespace, stack)
        if not isinstance(schema, dict):
            raise AvroConversionError(f"not an Avro schema: {type(schema).__name__}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if kind in _PRIMITIVES:
            out = dict(_PRIMITIVES[kind])
            if logical in _LOGICAL_NOTES:
                out["description"] = _LOGICAL_NOTES[logical]
            return out
        if kind == "record" or kind == "error":
            return self._record(schema, namespace, stack)
        if kind == "enum":
            full, _ = _full_name(schema, namespace)
            out = {"type": "string", "enum": list(schema["symbols"])}
            if schema.get("doc"):
                out["description"] = schema["doc"]
            self.named[full] = out
            return copy.deepcopy(out)
        if kind == "fixed":
            full, _ = _full_name(schema, namespace)
            out = {"type": "string", "contentEncoding": "base64", "description": f"{schema['size']} bytes"}
            self.named[full] = out
            return copy.deepcopy(out)
        if kind == "array":
            return {"type": "array", "items": self.convert(schema["items"], namespace, stack)}
        if kind == "map":
            return {"type": "object", "additionalProperties": self.convert(schema["values"], namespace, stack)}
        if isinstance(kind, (dict, list)) or (isinstance(kind, str) and kind not in _PRIMITIVES):
            return self.convert(kind, namespace, stack)
        raise AvroConversionError(f"unsupported Avro type {kind!r}")

    def _union(self, branches: list, namespace: str | None, stack: tuple[str, ...]) -> dict[str, Any]:
        converted = [self.convert(b, namespace, stack) for b in branches]
        if len(converted) == 1:
            return converted[0]
        non_null = [c for c in converted if c.get("type") != "null"]
        if len(non_null) == 1 and len(converted) == 2 and set(non_null[0]) <= {"type", "minimum", "maximum",
                                                                                 "description", "contentEncoding"}:
            # ["null", "string"] -> {"type": ["null", "string"]}: simplest form for tools
            merged = dict(non_null[0])
            merged["type"] = ["null", non_null[0]["type"]]
            return merged
        return {"anyOf": converted}

    def _record(self, schema: dict, namespace: str | None, stack: tuple[str, ...]) -> dict[str, Any]:
        full, ns = _full_name(schema, namespace)
        stack = (*stack, full)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for f in schema["fields"]:
            prop = self.convert(f["type"], ns, stack)
            doc = f.get("doc")
            if doc:
                note = prop.get("description")
                if not note or note in doc:
                    prop["description"] = doc
                elif doc in note:
                    prop["description"] = note
                elif note in _LOGICAL_NOTES.values():
                    prop["description"] = f"{doc} ({note})"
                else:
                    prop["description"] = f"{doc} {note}"
            if "default" in f:
                prop["default"] = f["default"]
            else:
                required.append(f["name"])
            properties[f["name"]] = prop
        out: dict[str, Any] = {"type": "object", "title": schema["name"].rsplit(".", 1)[-1]}
        if schema.get("doc"):
            out["description"] = schema["doc"]
        out["properties"] = properties
        out["required"] = required
        out["additionalProperties"] = False
        self.named[full] = out
        return copy.deepcopy(out)
