"""Confluent wire format codec: round trips, byte-equality with the avro library, errors."""

from __future__ import annotations

import copy
import io
import json
import random
from datetime import datetime, timedelta, timezone

import avro.io
import avro.schema
import pytest
from fastavro import schemaless_reader, schemaless_writer

from schemas import wire
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import EncodeError, WireFormatError, decode, encode

ALL_EXAMPLES = load_examples()
VALID = [pytest.param(e, id=e.id) for e in ALL_EXAMPLES if e.kind == "valid"]
SCHEMA_VIOLATIONS = [pytest.param(e, id=e.id) for e in ALL_EXAMPLES if e.reason == "schema_violation"]
RULE_VIOLATIONS = [pytest.param(e, id=e.id) for e in ALL_EXAMPLES if e.kind == "invalid" and e.reason != "schema_violation"]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _version(catalog, example):
    return catalog.contract(example.contract).version(example.version)


def with_defaults(schema: dict, record: dict) -> dict:
    """Top-level record with omitted fields filled from their defaults (field order of the schema)."""
    return {f["name"]: copy.deepcopy(record[f["name"]] if f["name"] in record else f["default"]) for f in schema["fields"]}


# -- the avro reference library: datetimes for timestamp-millis --------------------------


def _to_avro_lib(s: avro.schema.Schema, value):
    if isinstance(s, avro.schema.UnionSchema):
        for branch in s.schemas:
            if branch.type == "null" and value is None:
                return None
            if branch.type != "null" and value is not None:
                return _to_avro_lib(branch, value)
        raise AssertionError("no branch")
    if isinstance(s, avro.schema.RecordSchema):
        return {f.name: _to_avro_lib(f.type, value[f.name]) for f in s.fields if f.name in value}
    if isinstance(s, avro.schema.ArraySchema):
        return [_to_avro_lib(s.items, v) for v in value]
    if s.props.get("logicalType") == "timestamp-millis":
        return EPOCH + timedelta(milliseconds=value)
    return value


def _from_avro_lib(value):
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, dict):
        return {k: _from_avro_lib(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_avro_lib(v) for v in value]
    return value


def avro_lib_encode(schema: dict, record: dict) -> bytes:
    s = avro.schema.parse(json.dumps(schema))
    buf = io.BytesIO()
    avro.io.DatumWriter(s).write(_to_avro_lib(s, record), avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def avro_lib_decode(schema: dict, data: bytes) -> dict:
    s = avro.schema.parse(json.dumps(schema))
    return _from_avro_lib(avro.io.DatumReader(s).read(avro.io.BinaryDecoder(io.BytesIO(data))))


# -- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("example", VALID)
def test_valid_example_round_trips(catalog, example):
    version = _version(catalog, example)
    data = encode(version, example.payload)
    assert data[:5] == b"\x00" + version.schema_id.to_bytes(4, "big")
    decoded = decode(catalog, data, expect_contract=example.contract)
    assert decoded.version is version and decoded.reader is version
    assert decoded.schema_id == version.schema_id and decoded.contract == example.contract
    expected = with_defaults(version.schema, example.payload)
    assert decoded.record == expected
    # same Python types as the example payloads: ints for timestamps, bytes for bytes
    for f in version.schema["fields"]:
        if isinstance(f["type"], dict) and f["type"].get("logicalType") == "timestamp-millis":
            assert type(decoded.record[f["name"]]) is int
    # re-encoding the decoded record gives the same bytes
    assert encode(version, decoded.record) == data
    assert encode(version, decoded.record, validate=False) == data


@pytest.mark.parametrize("example", VALID)
def test_fastavro_bytes_equal_avro_library_bytes(catalog, example):
    version = _version(catalog, example)
    expected = with_defaults(version.schema, example.payload)
    body = encode(version, example.payload)[5:]
    assert body == avro_lib_encode(version.schema, expected)
    # and the reference library reads our bytes back to the same record
    assert avro_lib_decode(version.schema, body) == expected


def test_encode_accepts_datetimes_for_timestamps(catalog):
    ex = next(e for e in ALL_EXAMPLES if e.id == "site_event/v1/valid/opened_delivery_station")
    version = _version(catalog, ex)
    as_dt = dict(ex.payload, occurred_at=EPOCH + timedelta(milliseconds=ex.payload["occurred_at"]))
    assert encode(version, as_dt) == encode(version, ex.payload)
    assert decode(catalog, encode(version, as_dt)).record["occurred_at"] == ex.payload["occurred_at"]


# -- encode errors ------------------------------------------------------------------------


def _values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v)
    else:
        yield obj


@pytest.mark.parametrize("example", SCHEMA_VIOLATIONS)
def test_schema_violation_examples_fail_encode_on_their_field(catalog, example):
    version = _version(catalog, example)
    with pytest.raises(EncodeError) as exc:
        encode(version, example.payload)
    assert exc.value.field == example.field
    with pytest.raises(EncodeError) as exc2:
        wire.check(version, example.payload)
    assert exc2.value.field == example.field
    # the message never echoes a value of the payload
    for value in _values(example.payload):
        if isinstance(value, str) and len(value) > 3 and value not in version.canonical:
            assert value not in str(exc.value)


@pytest.mark.parametrize("example", RULE_VIOLATIONS)
def test_rule_violation_examples_fit_the_avro_schema(catalog, example):
    """Only schema_violation examples break the Avro schema; the others break a hub rule."""
    version = _version(catalog, example)
    decoded = decode(catalog, encode(version, example.payload))
    assert decoded.record == with_defaults(version.schema, example.payload)


@pytest.fixture
def site(catalog):
    ex = next(e for e in ALL_EXAMPLES if e.id == "site_event/v1/valid/opened_delivery_station")
    return catalog.contract("site_event").latest, copy.deepcopy(ex.payload)


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"capacity_workers": 2.5}, "capacity_workers", "got float"),
        ({"capacity_workers": True}, "capacity_workers", "got bool"),
        ({"capacity_workers": 2**31}, "capacity_workers", "int out of range"),
        ({"occurred_at": 2**63}, "occurred_at", "out of range"),
        ({"occurred_at": 1.5e12}, "occurred_at", "expected long"),
        ({"location": {"lat": "31.2", "lon": 121.0}}, "location.lat", "expected double, got str"),
        ({"location": {"lat": 31.2}}, "location.lon", "missing required field"),
        ({"location": {"lat": 31.2, "lon": 121.0, "alt": 3.0}}, "location.alt", "unknown field"),
        ({"location": [31.2, 121.0]}, "location", "expected null | record"),
        ({"facilities": ["REST_AREA", "SAUNA"]}, "facilities[1]", "not a symbol of enum"),
        ({"facilities": "REST_AREA"}, "facilities", "expected array"),
        ({"site_type": None}, "site_type", "got null"),
        ({"division_code": 310101002000}, "division_code", "expected string, got int"),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
def test_encode_errors_name_the_field_not_the_value(site, change, field, fragment):
    version, payload = site
    payload.update(change)
    with pytest.raises(EncodeError) as exc:
        encode(version, payload)
    assert exc.value.field == field
    assert fragment in exc.value.message
    assert "SAUNA" not in str(exc.value) and "31.2" not in str(exc.value)


def test_encode_rejects_non_dict(site):
    version, _ = site
    with pytest.raises(EncodeError) as exc:
        encode(version, ["not", "a", "record"])
    assert exc.value.field is None and "expected record" in exc.value.message


def test_encode_without_validation_still_wraps_fastavro_errors(site):
    version, payload = site
    payload["capacity_workers"] = "forty"
    with pytest.raises(EncodeError) as exc:
        encode(version, payload, validate=False)
    assert exc.value.field == "capacity_workers"
    assert "forty" not in str(exc.value)


# -- decode errors ------------------------------------------------------------------------


@pytest.fixture
def good(catalog, site):
    version, payload = site
    return encode(version, payload)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x00", "truncated"),
        (b"\x00\x00\x00\x01", "truncated"),
        (b"\x01\x00\x00\x00\x01rest", "bad_magic_byte"),
        (b"{\"event_id\": \"x\"}", "bad_magic_byte"),
        (b"\x00\x00\x00\x03\xe7\x02", "unknown_schema_id"),
        (b"\x00\x00\x00\x00\x00", "unknown_schema_id"),
        (b"\x00\x00\x00\x00\x01", "avro_decode_error"),
        (b"\x00\x00\x00\x00\x01" + b"\xff" * 12, "avro_decode_error"),
    ],
)
def test_wire_errors(catalog, data, reason):
    with pytest.raises(WireFormatError) as exc:
        decode(catalog, data)
    assert exc.value.reason == reason


def test_unknown_schema_id_reports_the_id(catalog):
    with pytest.raises(WireFormatError) as exc:
        decode(catalog, b"\x00\x00\x00\x03\xe7\x02")
    assert exc.value.schema_id == 999 and "999" in exc.value.message


def test_trailing_garbage_is_a_decode_error(catalog, good):
    assert decode(catalog, good).record  # sanity
    for extra in (b"\x00", b"garbage", good[5:]):
        with pytest.raises(WireFormatError) as exc:
            decode(catalog, good + extra)
        assert exc.value.reason == "avro_decode_error"
        assert "trailing" in exc.value.message
        assert exc.value.schema_id == 1


@pytest.mark.parametrize("example", VALID)
def test_every_truncation_is_a_decode_error(catalog, example):
    data = encode(_version(catalog, example), example.payload)
    for cut in range(5, len(data)):
        with pytest.raises(WireFormatError) as exc:
            decode(catalog, data[:cut])
        assert exc.value.reason == "avro_decode_error", cut


def test_invalid_utf8_is_a_decode_error_without_leaking_bytes(catalog, good):
    # event_id is the first field: length 36 (zigzag 0x48) then the UUID bytes
    assert good[5] == 0x48
    bad = bytearray(good)
    bad[6:9] = b"\xff\xfe\xfd"
    with pytest.raises(WireFormatError) as exc:
        decode(catalog, bytes(bad))
    assert exc.value.reason == "avro_decode_error"
    assert "UnicodeDecodeError" in exc.value.message
    assert "\\xff" not in str(exc.value) and "0xff" not in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_wrong_contract(catalog, good):
    assert decode(catalog, good, expect_contract="site_event").contract == "site_event"
    with pytest.raises(WireFormatError) as exc:
        decode(catalog, good, expect_contract="incident_report")
    assert exc.value.reason == "wrong_contract" and exc.value.schema_id == 1
    assert "site_event v1" in exc.value.message


def test_random_bytes_only_ever_raise_wire_format_errors(catalog):
    rng = random.Random(20260601)
    reasons = set()
    ids = [v.schema_id for v in catalog.versions()]
    for i in range(3000):
        head = b"\x00" + rng.choice(ids).to_bytes(4, "big") if i % 3 else bytes(rng.randrange(256) for _ in range(5))
        data = head + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        try:
            decode(catalog, data)
        except WireFormatError as exc:
            reasons.add(exc.reason)
    assert "avro_decode_error" in reasons and "bad_magic_byte" in reasons


def test_peek_schema_id(good):
    assert wire.peek_schema_id(good) == 1
    assert wire.peek_schema_id(b"\x01" + good[1:]) is None
    assert wire.peek_schema_id(b"\x00\x00") is None


# -- schema evolution: decode resolves to the latest version ------------------------------


def test_decode_resolves_old_versions_to_latest(catalog_dir, site):
    _, payload = site
    v2 = catalog_dir.latest_schema("site_event")
    v2["fields"].append({
        "name": "opening_hours",
        "type": ["null", "string"],
        "default": None,
        "doc": "Opening hours in OSM opening_hours syntax.",
    })
    for f in v2["fields"]:
        if f["name"] == "site_type":
            f["type"]["symbols"].insert(-1, "PARKING_LOT")
    catalog_dir.add_version("site_event", v2, valid_example=dict(payload, opening_hours="Mo-Su 07:00-23:00"))
    cat = catalog_dir.load()
    c = cat.contract("site_event")
    v1, latest = c.version(1), c.latest

    old = decode(cat, encode(v1, payload))
    assert old.version is v1 and old.reader is latest
    assert old.record == dict(with_defaults(v1.schema, payload), opening_hours=None)
    assert type(old.record["occurred_at"]) is int
    # the record has the latest shape: re-encode with `reader`; the writer version rejects it
    assert decode(cat, encode(old.reader, old.record)).record == old.record
    with pytest.raises(EncodeError, match="unknown field"):
        encode(old.version, old.record)

    new = decode(cat, encode(latest, dict(payload, site_type="PARKING_LOT", opening_hours="24/7")))
    assert new.version is latest and new.record["site_type"] == "PARKING_LOT"

    # forward direction, for the record: an old (v1) reader maps the unknown symbol to the
    # enum default OTHER -- this is what the catch-all enum defaults are for.
    buf = io.BytesIO()
    schemaless_writer(buf, latest.parsed, dict(payload, site_type="PARKING_LOT", opening_hours="24/7"))
    buf.seek(0)
    as_v1 = schemaless_reader(buf, latest.read_parsed, v1.read_parsed)
    assert as_v1["site_type"] == "OTHER" and "opening_hours" not in as_v1


def test_reference_clock():
    assert REFERENCE_NOW_MS == int(datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp() * 1000)
