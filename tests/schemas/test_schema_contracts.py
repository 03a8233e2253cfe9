"""The .avsc contracts themselves: docs, namespaces, shared types, defaults."""

from __future__ import annotations

import json

import avro.schema
import pytest
from fastavro.schema import to_parsing_canonical_form

from schemas.catalog import default_catalog

EVENT_CONTRACTS = ("site_event", "headcount_report", "incident_report", "order_cover", "claim_status",
                   "protection_measure", "algorithm_rule_change")
HUB_CONTRACTS = ("rejection_record", "dead_letter")
# Concern cases (issue #16): inbound like events, but keyed by case_id (no platform-event header).
CASE_CONTRACTS = ("concern_case", "case_event", "incident_ack")
VERSIONS = [pytest.param(v, id=f"{v.contract}-v{v.version}") for v in default_catalog().versions()]


def _walk_named(schema, out: dict[str, list[dict]], ns: str | None = None) -> None:
    """Collect inline named-type definitions by full name."""
    if isinstance(schema, list):
        for s in schema:
            _walk_named(s, out, ns)
        return
    if not isinstance(schema, dict):
        return
    t = schema.get("type")
    if t in ("record", "enum", "fixed"):
        ns = schema.get("namespace", ns)
        name = schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}"
        out.setdefault(name, []).append(schema)
        for f in schema.get("fields", []):
            _walk_named(f["type"], out, ns)
    elif t == "array":
        _walk_named(schema["items"], out, ns)
    elif t == "map":
        _walk_named(schema["values"], out, ns)
    elif isinstance(t, (dict, list)):
        _walk_named(t, out, ns)


def _records(schema) -> list[dict]:
    named: dict[str, list[dict]] = {}
    _walk_named(schema, named)
    return [d for defs in named.values() for d in defs if d["type"] == "record"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_field_record_and_enum_has_a_doc(version):
    named: dict[str, list[dict]] = {}
    _walk_named(version.schema, named)
    for full_name, defs in named.items():
        for d in defs:
            assert isinstance(d.get("doc"), str) and d["doc"].strip(), f"{full_name} has no doc"
            for f in d.get("fields", []):
                assert isinstance(f.get("doc"), str) and f["doc"].strip(), f"{full_name}.{f['name']} has no doc"


@pytest.mark.parametrize("version", VERSIONS)
def test_namespace_and_full_name(version, catalog):
    expected_ns = "io.gigbridge.events" if version.contract in EVENT_CONTRACTS + CASE_CONTRACTS else "io.gigbridge.hub"
    assert version.schema["namespace"] == expected_ns
    assert version.full_name == catalog.contract(version.contract).full_name


@pytest.mark.parametrize("version", VERSIONS)
def test_nullable_fields_default_to_null(version):
    """Every ["null", ...] field can be omitted by producers (and added by a new version)."""
    for record in _records(version.schema):
        for f in record["fields"]:
            if isinstance(f["type"], list) and "null" in f["type"]:
                assert f["type"][0] == "null", f"{f['name']}: null must be the first branch"
                assert "default" in f and f["default"] is None, f"{f['name']}: needs default null"


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_parses_with_the_avro_library(version):
    parsed = avro.schema.parse(json.dumps(version.schema))
    assert parsed.fullname == version.full_name
    # avro (python) keeps {"type": "long"} for a logical-typed long in its canonical form,
    # the spec (and fastavro, and Java) reduce it to "long"; otherwise both agree.
    assert parsed.canonical_form.replace('{"type":"long"}', '"long"') == version.canonical
    assert version.canonical == to_parsing_canonical_form(version.schema)


@pytest.mark.parametrize("contract", EVENT_CONTRACTS)
def test_event_contracts_start_with_common_fields(catalog, contract):
    for v in catalog.contract(contract).versions:
        first = v.schema["fields"][:3]
        assert [f["name"] for f in first] == ["event_id", "platform_id", "occurred_at"]
        assert first[0]["type"] == "string"
        assert first[1]["type"] == "string"
        assert first[2]["type"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_geopoint_is_the_same_type_everywhere(catalog):
    definitions = {}
    for v in catalog.versions():
        named: dict[str, list[dict]] = {}
        _walk_named(v.schema, named)
        for d in named.get("io.gigbridge.events.GeoPoint", []):
            definitions[f"{v.contract} v{v.version}"] = to_parsing_canonical_form(
                {**d, "namespace": "io.gigbridge.events"}
            )
    assert {"site_event v1", "incident_report v1"} <= set(definitions)
    assert len(set(definitions.values())) == 1, definitions


def test_case_enums_are_the_same_type_in_case_and_state(catalog):
    for name in ("CaseSourceKind", "CaseCategory", "CaseUrgency"):
        forms = set()
        for contract in ("concern_case", "case_state"):
            definition = _enum(catalog.contract(contract).latest.schema, f"io.gigbridge.events.{name}")
            forms.add(to_parsing_canonical_form({**definition, "namespace": "io.gigbridge.events"}))
        assert len(forms) == 1, name


def _enum(schema: dict, name: str) -> dict:
    named: dict[str, list[dict]] = {}
    _walk_named(schema, named)
    return named[name][0]


@pytest.mark.parametrize(
    ("contract", "enum", "default"),
    [
        ("site_event", "io.gigbridge.events.SiteType", "OTHER"),
        ("incident_report", "io.gigbridge.events.IncidentCategory", "OTHER_INJURY"),
        ("incident_report", "io.gigbridge.events.WeatherCondition", "OTHER"),
        ("cover_gap", "io.gigbridge.hub.CoverGapKind", "OTHER"),
        ("weather_notice", "io.gigbridge.hub.WarningType", "OTHER"),
        ("protection_measure", "io.gigbridge.events.MeasureKind", "OTHER"),
        ("concern_case", "io.gigbridge.events.CaseCategory", "OTHER"),
        ("case_state", "io.gigbridge.events.CaseCategory", "OTHER"),
    ],
)
def test_catch_all_enum_defaults(catalog, contract, enum, default):
    e = _enum(catalog.contract(contract).latest.schema, enum)
    assert e.get("default") == default and default in e["symbols"]


def test_enum_symbols_v1(catalog):
    site = catalog.contract("site_event").version(1).schema
    inc = catalog.contract("incident_report").version(1).schema
    assert _enum(site, "io.gigbridge.events.SiteAction")["symbols"] == ["OPENED", "UPDATED", "CLOSED"]
    assert _enum(site, "io.gigbridge.events.Facility")["symbols"] == [
        "REST_AREA", "DRINKING_WATER", "RESTROOM", "CHARGING", "HEATING", "COOLING", "FIRST_AID", "MEAL",
    ]
    assert _enum(inc, "io.gigbridge.events.IncidentSeverity")["symbols"] == ["MINOR", "MODERATE", "SEVERE", "FATAL"]
    assert len(_enum(inc, "io.gigbridge.events.WeatherCondition")["symbols"]) == 9
