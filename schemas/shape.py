"""Strict, value-free shape checking of Python records against an Avro schema.

fastavro's writer is lenient in ways that silently corrupt data (it writes ``2.5``
as int ``2``, ``True`` as ``1``, an out-of-range int as a varint Java readers
reject) and its error messages embed the offending value.  This module compiles a
parsed (fastavro ``parse_schema``) schema ONCE into a tree of closures that check a
record in the "Python dict" form and report the first problem as
``(field_path, message)``:

* ``field_path`` is dotted for records and indexed for arrays/maps, e.g.
  ``location.lat``, ``facilities[2]``, or ``None`` for the top-level value;
* ``message`` names types and schema symbols only, NEVER the offending value
  (rejection records and logs must not leak data).

Accepted Python types (the "Python dict" form used by examples and decode):
null=None, boolean=bool, int/long=int (not bool; 32/64-bit range),
float/double=int|float (not bool), string=str, bytes=bytes|bytearray,
enum=str (one of the symbols), array=list|tuple, map=dict with str keys,
fixed=bytes of the exact size, record=dict (no unknown keys; a missing key is
fine only if the field has a default). For ``timestamp-*``/``local-timestamp-*``
logical types a ``datetime.datetime`` is accepted besides int, for ``date`` a
``datetime.date``, for ``time-*`` a ``datetime.time``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

Problem = tuple[str | None, str]
# A checker returns None when the value fits, else (relative_path, message).
# relative_path is "" for the value itself, "lat", "[3]", "location.lat", ...
Checker = Callable[[Any], "tuple[str, str] | None"]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1

_LOGICAL_EXTRA_TYPES: dict[str, tuple[type, ...]] = {
    "timestamp-millis": (_dt.datetime,),
    "timestamp-micros": (_dt.datetime,),
    "local-timestamp-millis": (_dt.datetime,),
    "local-timestamp-micros": (_dt.datetime,),
    "date": (_dt.date,),
    "time-millis": (_dt.time,),
    "time-micros": (_dt.time,),
}


def _tname(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _join(prefix: str, sub: str) -> str:
    if not sub:
        return prefix
    if sub.startswith("["):
        return prefix + sub
    return f"{prefix}.{sub}"


def _describe(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return " | ".join(_describe(s) for s in schema)
    t = schema.get("type")
    if t in ("record", "enum", "fixed", "error"):
        return f"{t} {schema.get('name')}"
    if t == "array":
        return f"array<{_describe(schema['items'])}>"
    if t == "map":
        return f"map<{_describe(schema['values'])}>"
    return str(t)


def compile_checker(parsed_schema: Any) -> Checker:
    """Compile a fastavro-parsed schema into a checker closure (do this once)."""
    named: dict[str, Any] = {}
    if isinstance(parsed_schema, dict):
        named.update(parsed_schema.get("__named_schemas", {}))
    compiled: dict[str, Checker] = {}

    def build(schema: Any) -> Checker:
        if isinstance(schema, list):
            return build_union(schema)
        if isinstance(schema, str):
            if schema in named:
                return build_named_ref(schema)
            return build_primitive(schema, None)
        t = schema["type"]
        if t in ("record", "error"):
            return build_record(schema)
        if t == "enum":
            return build_enum(schema)
        if t == "array":
            return build_array(schema)
        if t == "map":
            return build_map(schema)
        if t == "fixed":
            return build_fixed(schema)
        if isinstance(t, (dict, list)):
            return build(t)
        return build_primitive(t, schema.get("logicalType"))

    def build_named_ref(name: str) -> Checker:
        # Late-bound so recursive/forward references work.
        if name not in compiled:
            compiled[name] = build(named[name])

        def check(value: Any) -> tuple[str, str] | None:
            return compiled[name](value)

        return check

    def build_primitive(t: str, logical: str | None) -> Checker:
        if t == "null":
            def check(value: Any) -> tuple[str, str] | None:
                return None if value is None else ("", f"expected null, got {_tname(value)}")
        elif t == "boolean":
            def check(value: Any) -> tuple[str, str] | None:
                return None if value is True or value is False else ("", f"expected boolean, got {_tname(value)}")
        elif t in ("int", "long"):
            lo, hi = (_INT_MIN, _INT_MAX) if t == "int" else (_LONG_MIN, _LONG_MAX)
            extra = _LOGICAL_EXTRA_TYPES.get(logical or "", ())
            label = f"{t} ({logical})" if logical else t

            def check(value: Any) -> tuple[str, str] | None:
                if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
                    if lo <= value <= hi:
                        return None
                    return ("", f"{t} out of range (must be within [{lo}, {hi}])")
                if extra and isinstance(value, extra):
                    return None
                return ("", f"expected {label}, got {_tname(value)}")
        elif t in ("float", "double"):
            def check(value: Any) -> tuple[str, str] | None:
                tv = type(value)
                if tv is float or tv is int:
                    return None
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return None
                return ("", f"expected {t}, got {_tname(value)}")
        elif t == "string":
            def check(value: Any) -> tuple[str, str] | None:
                return None if isinstance(value, str) else ("", f"expected string, got {_tname(value)}")
        elif t == "bytes":
            def check(value: Any) -> tuple[str, str] | None:
                return None if isinstance(value, (bytes, bytearray)) else ("", f"expected bytes, got {_tname(value)}")
        else:  # pragma: no cover - parse_schema rejects unknown types
            raise ValueError(f"unsupported Avro type {t!r}")
        return check

    def build_enum(schema: dict) -> Checker:
        symbols = frozenset(schema["symbols"])
        name = schema["name"]
        allowed = ", ".join(schema["symbols"])

        def check(value: Any) -> tuple[str, str] | None:
            if isinstance(value, str):
                if value in symbols:
                    return None
                return ("", f"not a symbol of enum {name} (allowed: {allowed})")
            return ("", f"expected enum {name} symbol (string), got {_tname(value)}")

        return check

    def build_fixed(schema: dict) -> Checker:
        size = schema["size"]

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, (bytes, bytearray)):
                return ("", f"expected fixed {schema['name']} ({size} bytes), got {_tname(value)}")
            if len(value) != size:
                return ("", f"fixed {schema['name']} must be exactly {size} bytes, got {len(value)}")
            return None

        return check

    def build_array(schema: dict) -> Checker:
        item = build(schema["items"])

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, (list, tuple)):
                return ("", f"expected array (list), got {_tname(value)}")
            for i, v in enumerate(value):
                r = item(v)
                if r is not None:
                    return (_join(f"[{i}]", r[0]), r[1])
            return None

        return check

    def build_map(schema: dict) -> Checker:
        val = build(schema["values"])

        def check(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return ("", f"expected map (dict), got {_tname(value)}")
            for i, (k, v) in enumerate(value.items()):
                if not isinstance(k, str):
                    return (f"[{i}]", f"map keys must be strings, got {_tname(k)}")
                r = val(v)
                if r is not None:
                    return (_join(f"[{k}]", r[0]), r[1])
            return None

        return check

    def build_record(schema: dict) -> Checker:
        name = schema["name"]
        if name in compiled:
            return compiled[name]
        slot: list[Checker] = []

        def check(value: Any) -> tuple[str, str] | None:
            return slot[0](value)

        compiled[name] = check  # registered before building fields: recursion-safe
        spec = [(f["name"], "default" in f, build(f["type"])) for f in schema["fields"]]
        names = frozenset(n for n, _, _ in spec)

        def check_record(value: Any) -> tuple[str, str] | None:
            if not isinstance(value, dict):
                return ("", f"expected record {name} (dict), got {_tname(value)}")
            if not value.keys() <= names:
                unknown = sorted(str(k) for k in value.keys() - names)
                return (unknown[0], f"unknown field, not in record {name}")
            for fname, has_default, fcheck in spec:
                if fname in value:
                    r = fcheck(value[fname])
                    if r is not None:
                        return (_join(fname, r[0]), r[1])
                elif not has_default:
                    return (fname, "missing required field (no default)")
            return None

        slot.append(check_record)
        return check

    def build_union(branches: list) -> Checker:
        checks = [build(b) for b in branches]
        descr = _describe(branches)

        def check(value: Any) -> tuple[str, str] | None:
            errors = []
            for c in checks:
                r = c(value)
                if r is None:
                    return None
                errors.append(r)
            # A branch of the right kind that fails deeper (location.lat, int out of
            # range, unknown enum symbol) explains more than "expected null | X".
            for path, message in errors:
                if path or not message.startswith("expected "):
                    return (path, message)
            return ("", f"expected {descr}, got {_tname(value)}")

        return check

    return build(parsed_schema)


def find_problem(checker: Checker, record: Any) -> Problem | None:
    """Run a compiled checker; return ``(field_path or None, message)`` or None."""
    r = checker(record)
    if r is None:
        return None
    path, message = r
    return (path or None, message)
