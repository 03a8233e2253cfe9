"""Catalog: stable ids, lookups, topic -> subject, and lint of unreferenced files."""

from __future__ import annotations

import json

import pytest

from schemas.catalog import SCHEMAS_DIR, Catalog, CatalogError, SchemaVersion, default_catalog
from schemas.compat import lint

# Schema ids are part of the wire format: once published they never change.
# When a version is added, APPEND its (contract, version) -> id here; never edit a line.
PINNED_SCHEMA_IDS = {
    ("site_event", 1): 1,
    ("headcount_report", 1): 2,
    ("incident_report", 1): 3,
    ("rejection_record", 1): 4,
    ("dead_letter", 1): 5,
    ("delivery_receipt", 1): 6,
    ("sink_dead_letter", 1): 7,
    ("dedupe_batch", 1): 8,
    ("order_cover", 1): 9,
    ("worker_day_cover", 1): 10,
    ("premium_statement", 1): 11,
    ("cover_gap", 1): 12,
    ("incident_cover_link", 1): 14,
    ("claim_status", 1): 13,
    # weather notices, measures, algorithm-rule changes (issue #17): the 30-39 block
    ("weather_notice", 1): 30,
    ("protection_measure", 1): 31,
    ("algorithm_rule_change", 1): 32,
    ("notice_status", 1): 33,
    ("concern_case", 1): 20,
    ("case_event", 1): 21,
    ("case_state", 1): 22,
    ("case_rejection", 1): 23,
    ("incident_ack", 1): 24,
}


def test_default_catalog_is_loaded_once_from_the_package(catalog):
    assert default_catalog() is catalog
    assert catalog.root == SCHEMAS_DIR
    assert [c.name for c in catalog.contracts] == [
        "site_event", "headcount_report", "incident_report", "rejection_record", "dead_letter",
        "delivery_receipt", "sink_dead_letter", "dedupe_batch", "order_cover", "worker_day_cover",
        "premium_statement", "cover_gap", "incident_cover_link", "claim_status", "weather_notice", "protection_measure",
        "algorithm_rule_change", "notice_status", "concern_case", "case_event", "case_state",
        "case_rejection", "incident_ack",
    ]


def test_schema_ids_are_unique(catalog):
    ids = [v.schema_id for v in catalog.versions()]
    assert len(ids) == len(set(ids))
    assert all(1 <= i <= 2**31 - 1 for i in ids)


def test_schema_ids_are_pinned_and_only_appended(catalog):
    actual = {(v.contract, v.version): v.schema_id for v in catalog.versions()}
    for key, schema_id in PINNED_SCHEMA_IDS.items():
        assert actual.get(key) == schema_id, f"{key} must keep schema id {schema_id}"
    max_pinned = max(PINNED_SCHEMA_IDS.values())
    for key, schema_id in actual.items():
        if key not in PINNED_SCHEMA_IDS:
            assert schema_id > max_pinned, f"new version {key} must get a new id > {max_pinned}"
    # also stable between independent loads
    again = {(v.contract, v.version): v.schema_id for v in Catalog.load().versions()}
    assert again == actual


def test_versions_are_consecutive_and_ids_increase(catalog):
    for c in catalog.contracts:
        assert [v.version for v in c.versions] == list(range(1, len(c.versions) + 1))
        ids = [v.schema_id for v in c.versions]
        assert ids == sorted(ids)
        assert c.latest is c.versions[-1]


def test_lookups(catalog):
    site = catalog.contract("site_event")
    assert site.full_name == "io.gigbridge.events.SiteEvent"
    assert catalog.by_event_type("sites") is site
    assert catalog.by_event_type("headcounts").name == "headcount_report"
    assert catalog.by_event_type("incidents").name == "incident_report"
    assert catalog.by_event_type("orders").name == "order_cover"
    assert catalog.by_event_type("claim-status").name == "claim_status"
    assert catalog.by_event_type("measures").name == "protection_measure"
    assert catalog.by_event_type("algorithm-changes").name == "algorithm_rule_change"
    assert catalog.by_event_type("cases").name == "concern_case"
    assert catalog.by_event_type("case-events").name == "case_event"
    assert catalog.by_event_type("incident-acks").name == "incident_ack"
    assert catalog.contract("rejection_record").event_type is None
    assert catalog.contract("dead_letter").event_type is None
    assert catalog.by_full_name("io.gigbridge.hub.DeadLetter").name == "dead_letter"
    v = catalog.by_id(3)
    assert isinstance(v, SchemaVersion) and (v.contract, v.version) == ("incident_report", 1)
    assert catalog.by_id(0) is None and catalog.by_id(999_999) is None
    with pytest.raises(KeyError):
        catalog.contract("nope")
    with pytest.raises(KeyError):
        catalog.by_event_type("rejected")
    assert site.version(1) is site.versions[0]
    with pytest.raises(KeyError):
        site.version(99)


def test_schema_versions_are_parsed_once(catalog):
    for v in catalog.versions():
        assert v.parsed.get("__fastavro_parsed") is True
        assert v.read_parsed.get("__fastavro_parsed") is True
        assert "logicalType" not in json.dumps(v.read_parsed)
        assert v.canonical.startswith('{"name":"' + v.full_name + '"')
        assert v.path.is_file()
        assert v.header == b"\x00" + v.schema_id.to_bytes(4, "big")
        assert v.checker is not None
        hash(v)  # usable as a dict key


@pytest.mark.parametrize(
    ("topic", "contract", "params"),
    [
        ("platform.swiftdash.sites", "site_event", {"platform": "swiftdash"}),
        ("hub.validated.sites", "site_event", {}),
        ("gov.office.310101002000.sites", "site_event", {"division": "310101002000"}),
        ("platform.city-ride.headcounts", "headcount_report", {"platform": "city-ride"}),
        ("hub.validated.headcounts", "headcount_report", {}),
        ("gov.office.440305.headcounts", "headcount_report", {"division": "440305"}),
        ("platform.parcelgo.incidents", "incident_report", {"platform": "parcelgo"}),
        ("hub.validated.incidents", "incident_report", {}),
        ("gov.office.110101.incidents", "incident_report", {"division": "110101"}),
        ("platform.swiftdash.rejected", "rejection_record", {"platform": "swiftdash"}),
        ("hub.dlq", "dead_letter", {}),
        ("platform.swiftdash.orders", "order_cover", {"platform": "swiftdash"}),
        ("hub.validated.orders", "order_cover", {}),
        ("gov.insurance.44.cover", "worker_day_cover", {"province": "44"}),
        ("gov.insurance.31.statements", "premium_statement", {"province": "31"}),
        ("platform.swiftdash.statements", "premium_statement", {"platform": "swiftdash"}),
        ("gov.insurance.51.cover-gaps", "cover_gap", {"province": "51"}),
        ("platform.cityride.cover-gaps", "cover_gap", {"platform": "cityride"}),
        ("gov.insurance.51.cover-links", "incident_cover_link", {"province": "51"}),
        ("platform.cityride.cover-links", "incident_cover_link", {"platform": "cityride"}),
        ("gov.insurance.44.claim-status", "claim_status", {"province": "44"}),
        ("platform.cityride.claims", "claim_status", {"platform": "cityride"}),
        ("gov.notices.44", "weather_notice", {"province": "44"}),
        ("gov.notices.44.status", "notice_status", {"province": "44"}),
        ("platform.swiftdash.measures", "protection_measure", {"platform": "swiftdash"}),
        ("platform.cityride.algorithm-changes", "algorithm_rule_change", {"platform": "cityride"}),
        ("gov.regulator.algorithm-changes", "algorithm_rule_change", {}),
        ("public.algorithm-register", "algorithm_rule_change", {}),
        ("platform.swiftdash.cases", "concern_case", {"platform": "swiftdash"}),
        ("gov.office.110105.cases", "concern_case", {"division": "110105"}),
        ("gov.units.110105-hrss.case-events", "case_event", {"unit": "110105-hrss"}),
        ("platform.swiftdash.case-events", "case_event", {"platform": "swiftdash"}),
        ("hub.cases.state", "case_state", {}),
        ("platform.swiftdash.case-updates", "case_state", {"platform": "swiftdash"}),
        ("gov.units.110105-amr.case-updates", "case_state", {"unit": "110105-amr"}),
        ("gov.units.110105-amr.case-rejections", "case_rejection", {"unit": "110105-amr"}),
        ("gov.units.440305001-gov.incident-acks", "incident_ack", {"unit": "440305001-gov"}),
        ("platform.parcelgo.incident-acks", "incident_ack", {"platform": "parcelgo"}),
    ],
)
def test_subject_for_topic(catalog, topic, contract, params):
    subject, c = catalog.subject_for_topic(topic)
    assert subject == f"{topic}-value"
    assert c.name == contract
    m = catalog.match_topic(topic)
    assert dict(m.params) == params


@pytest.mark.parametrize(
    "topic",
    [
        "platform.swiftdash",
        "platform..sites",
        "platform.a.b.sites",
        "hub.validated.sites.extra",
        "xhub.dlq",
        "hub.dlq2",
        "gov.office.sites",
        "platform.swiftdash.unknown",
        "",
    ],
)
def test_subject_for_unknown_topic_is_none(catalog, topic):
    assert catalog.subject_for_topic(topic) is None


def test_repository_has_no_unreferenced_files(catalog):
    assert lint(catalog) == []


def test_every_catalog_version_has_a_valid_example(catalog):
    from schemas.examples import load_examples

    covered = {(e.contract, e.version) for e in load_examples(kind="valid")}
    for v in catalog.versions():
        assert (v.contract, v.version) in covered


def test_lint_flags_unreferenced_avsc(catalog_dir):
    stray = catalog_dir.root / "avro" / "site_event" / "v2.avsc"
    stray.write_text(json.dumps(catalog_dir.latest_schema("site_event")))
    (catalog_dir.root / "avro" / "notes.txt").write_text("x")
    problems = lint(catalog_dir.load())
    assert any("site_event/v2.avsc" in p and "not referenced" in p for p in problems)
    assert any("notes.txt" in p for p in problems)


def test_lint_flags_examples_without_catalog_version(catalog_dir):
    d = catalog_dir.root / "examples" / "site_event" / "v7" / "valid"
    d.mkdir(parents=True)
    (d / "x.json").write_text("{}")
    d2 = catalog_dir.root / "examples" / "ghost_contract" / "v1" / "valid"
    d2.mkdir(parents=True)
    (d2 / "x.json").write_text("{}")
    problems = lint(catalog_dir.load())
    assert any("site_event v7 is not a catalog contract version" in p for p in problems)
    assert any("ghost_contract v1 is not a catalog contract version" in p for p in problems)


def test_lint_flags_bad_example_layout(catalog_dir):
    (catalog_dir.root / "examples" / "site_event" / "v1" / "maybe").mkdir()
    (catalog_dir.root / "examples" / "site_event" / "v1" / "valid" / "Bad Name.json").write_text("{}")
    problems = lint(catalog_dir.load())
    assert any("maybe" in p for p in problems)
    assert any("Bad Name.json" in p for p in problems)


def test_lint_flags_version_without_valid_example(catalog_dir):
    catalog_dir.add_version("dead_letter", catalog_dir.latest_schema("dead_letter"))
    problems = lint(catalog_dir.load())
    assert problems == ["dead_letter v2: no valid example under examples/dead_letter/v2/valid/"]


def _edit(catalog_dir, fn):
    doc = catalog_dir.doc()
    fn(doc)
    catalog_dir.write_doc(doc)


def _contract(doc, name):
    return next(c for c in doc["contracts"] if c["name"] == name)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: _contract(d, "dead_letter")["versions"][0].update(schema_id=1), "schema id 1 used twice"),
        (lambda d: _contract(d, "dead_letter")["versions"][0].update(version=2), "numbered 1..N"),
        (lambda d: _contract(d, "dead_letter")["versions"][0].update(schema_id=0), "schema_id must be an integer"),
        (lambda d: _contract(d, "dead_letter").update(full_name="io.gigbridge.hub.Other"), "defines 'io.gigbridge.hub.DeadLetter'"),
        (lambda d: _contract(d, "dead_letter").update(event_type="sites"), "event_type 'sites' used by both"),
        (lambda d: _contract(d, "dead_letter").update(topics=["hub.validated.sites"]), "listed by both"),
        (lambda d: _contract(d, "dead_letter").update(topics=["hub dlq"]), "only [A-Za-z0-9._-]"),
        (lambda d: _contract(d, "dead_letter").update(compatibility="NONE"), "'compatibility' must be one of"),
        (lambda d: _contract(d, "dead_letter")["versions"].append({"version": 2, "schema_id": 99}), "cannot read schema file"),
        (lambda d: d["contracts"].append(dict(_contract(d, "dead_letter"))), "duplicate contract name"),
    ],
)
def test_catalog_errors_are_clear(catalog_dir, mutate, message):
    _edit(catalog_dir, mutate)
    with pytest.raises(CatalogError) as exc:
        catalog_dir.load()
    assert message in str(exc.value)


def test_new_version_id_must_exceed_previous(catalog_dir):
    catalog_dir.add_version("headcount_report", catalog_dir.latest_schema("headcount_report"), schema_id=1)
    with pytest.raises(CatalogError, match="must be greater than v1's 2"):
        catalog_dir.load()


def test_added_version_gets_next_id_and_becomes_latest(catalog_dir):
    next_id = max(PINNED_SCHEMA_IDS.values()) + 1
    n = catalog_dir.add_version("site_event", catalog_dir.latest_schema("site_event"))
    cat = catalog_dir.load()
    c = cat.contract("site_event")
    assert n == 2 and c.latest.version == 2 and c.latest.schema_id == next_id
    assert cat.by_id(next_id) is c.latest and cat.by_id(1) is c.version(1)
