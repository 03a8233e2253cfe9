"""Pure tests for gigbridge.access: the file, the derived ACLs, office prefix semantics, plan/diff,
secrets, the matrix, CLI error paths.  No broker (see test_access_kafka.py for the real one)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gigbridge import access_cli
from gigbridge.access import (
    DEFAULT_ACCESS_FILE,
    SECRET_ENV_PREFIX,
    SECRETS_DIR_ENV,
    AccessError,
    AccessFile,
    AclSpec,
    Family,
    MissingSecretsError,
    add_cli,
    desired_acls,
    dev_secret,
    effective_matrix,
    is_allowed,
    load_access,
    PROVINCE_CODES,
    office_topic_prefix,
    parse_access,
    plan,
    resolve_secrets,
    secret_env_var,
    topic_families,
    units_of,
)

BASE = {
    "hub": {"user": "gigbridge-hub"},
    "platforms": [{"id": "swiftmeal", "user": "platform-swiftmeal"},
                  {"id": "cityrun", "user": "platform-cityrun"}],
    "offices": [{"name": "shanghai", "code": "3101", "user": "office-3101"},
                {"name": "shanghai-huangpu", "code": "310101", "user": "office-310101"},
                {"name": "huangpu-nanjingdonglu", "code": "310101002", "user": "office-310101002"},
                {"name": "shanghai-city", "code": "31", "user": "office-31"}],
    "insurers": [{"name": "guangdong-injury", "province": "44", "user": "insurer-44"},
                 {"name": "shanghai-injury", "province": "31", "user": "insurer-31"}],
    "units": [{"id": "110105-hrss", "user": "unit-x"}, {"id": "310115-hrss", "user": "unit-y"}],
    "regulators": [{"name": "algorithms", "user": "regulator-a"}],
    "public_readers": [{"name": "register", "user": "public-register"}],
    "operators": [{"user": "ops"}],
}


@pytest.fixture(scope="module")
def access() -> AccessFile:
    return parse_access(BASE)


@pytest.fixture(scope="module")
def acls(access: AccessFile) -> set[AclSpec]:
    return desired_acls(access)


def of(acls: set[AclSpec], user: str) -> set[tuple[str, str, str, str]]:
    """(resource_type, name, pattern, operation) granted to ``user`` (all ALLOW, host *)."""
    mine = {a for a in acls if a.principal == f"User:{user}" and a.permission == "ALLOW"}
    assert all(a.host == "*" for a in mine)
    return {(a.resource_type, a.resource_name, a.pattern_type, a.operation) for a in mine}


def can(acls, user: str, op: str, topic: str, resource_type: str = "TOPIC") -> bool:
    return is_allowed(acls, f"User:{user}", resource_type, topic, op)


# ---------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------

def test_repo_access_file_is_valid_and_declares_every_kind() -> None:
    access = load_access(DEFAULT_ACCESS_FILE)
    assert access.hub.user == "gigbridge-hub" and access.hub.app_id == "gigbridge-hub"
    assert {p.id for p in access.platforms} >= {"swiftmeal"}
    assert {(o.name, o.code, o.user) for o in access.offices} >= {
        ("shanghai-huangpu", "310101", "office-310101"), ("shanghai", "3101", "office-3101"),
        ("huangpu-nanjingdonglu", "310101002", "office-310101002")}
    assert [(i.name, i.province, i.user) for i in access.insurers] == [("guangdong-injury", "44", "insurer-44")]
    assert [o.user for o in access.operators] == ["ops"]
    assert access.super_users == ("admin",)
    assert len(desired_acls(access)) > 0
    # the monitoring-safe rule is declared in the file itself
    assert set(access.operator_never_reads) >= {"hub.", "platform.", "gov.insurance."}


def test_hub_app_id_default_matches_settings_default() -> None:
    from gigbridge.settings import Settings

    assert parse_access({"hub": {"user": "h"}}).hub.app_id == Settings.model_fields["app_id"].default


def test_topic_names_match_streams_and_catalog() -> None:
    from streams.core.topics import DLQ_TOPIC, ingest_topic, rejected_topic, validated_topics

    access = parse_access(BASE)
    acls = desired_acls(access)
    for t in ("sites", "headcounts", "incidents"):
        assert can(acls, "platform-swiftmeal", "WRITE", ingest_topic("swiftmeal", t))
    assert can(acls, "platform-swiftmeal", "READ", rejected_topic("swiftmeal"))
    for topic in [*validated_topics(), DLQ_TOPIC]:  # worker refs, full coordinates, original bytes
        assert not can(acls, "ops", "READ", topic) and can(acls, "ops", "DESCRIBE", topic)
        assert can(acls, "gigbridge-hub", "WRITE", topic)
    catalog = (Path(__file__).resolve().parents[2] / "schemas" / "catalog.yaml").read_text()
    assert "gov.office.{division}.sites" in catalog
    assert "gov.insurance.{province}.incidents" in catalog


@pytest.mark.parametrize("patch, message", [
    ({"platforms": [{"id": "Swift", "user": "p"}]}, "platforms.0.id"),
    ({"platforms": [{"id": "s", "user": "p"}]}, "platforms.0.id"),              # too short
    ({"platforms": [{"id": "a" * 33, "user": "p"}]}, "platforms.0.id"),
    ({"platforms": [{"id": "1abc", "user": "p"}]}, "platforms.0.id"),
    ({"offices": [{"name": "x-office", "code": "310", "user": "o"}]}, "must be 2 / 4 / 6 / 9 digits"),
    ({"offices": [{"name": "x-office", "code": "31010100", "user": "o"}]}, "must be 2 / 4 / 6 / 9 digits"),
    ({"offices": [{"name": "x-office", "code": "31a1", "user": "o"}]}, "must be 2 / 4 / 6 / 9 digits"),
    ({"offices": [{"name": "x-office", "code": 310101, "user": "o"}]}, "quoted string"),
    ({"insurers": [{"name": "ins", "province": "440", "user": "i"}]}, "must be 2 digits"),
    ({"insurers": [{"name": "ins", "province": 44, "user": "i"}]}, "quoted string"),
    ({"units": [{"id": "Unit_1", "user": "u"}]}, "units.0.id"),
    ({"units": [{"id": "110105-hrss", "user": "u1"}, {"id": "110105-hrss", "user": "u2"}]},
     "duplicate unit id '110105-hrss'"),
    ({"regulators": [{"name": "r", "user": "u"}]}, "regulators.0.name"),
    ({"public_readers": [{"name": "web", "user": "ops"}], "operators": [{"user": "ops"}]}, "duplicate user 'ops'"),
    ({"operators": [{"user": "ops"}, {"user": "ops"}]}, "duplicate user 'ops'"),
    ({"operators": [{"user": "platform-a"}], "platforms": [{"id": "aa", "user": "platform-a"}]},
     "duplicate user 'platform-a'"),
    ({"operators": [{"user": "gigbridge-hub"}]}, "duplicate user 'gigbridge-hub'"),
    ({"platforms": [{"id": "aa", "user": "u1"}, {"id": "aa", "user": "u2"}]}, "duplicate platform id 'aa'"),
    ({"offices": [{"name": "same", "code": "31", "user": "a"}, {"name": "same", "code": "44", "user": "b"}]},
     "duplicate office name 'same'"),
    ({"operators": [{"user": "admin"}]}, "listed in super_users"),
    ({"operators": [{"user": "ops-a"}, {"user": "ops.a"}]}, "share the secret variable"),
    ({"operators": [{"user": "Ops"}]}, "operators.0.user"),
    ({"operators": [{"user": "ops", "read_prefixes": ["secret."]}]}, "must start with hub., gov. or platform."),
    ({"operators": [{"user": "ops", "write": ["hub."]}]}, "Extra inputs are not permitted"),
    ({"operators": [{"user": "ops", "read_prefixes": ["hub.dlq"]}]}, "may not read 'hub.dlq': it overlaps 'hub.'"),
    ({"operators": [{"user": "ops", "read_prefixes": ["hub.validated."]}]}, "overlaps 'hub.'"),
    ({"operators": [{"user": "ops", "read_prefixes": ["gov."]}]}, "overlaps 'gov.insurance.'"),
    ({"operators": [{"user": "ops", "read_prefixes": ["gov.insurance.44"]}]}, "overlaps 'gov.insurance.'"),
    ({"operators": [{"user": "ops", "read_prefixes": ["platform.swiftmeal.rejected"]}]}, "overlaps 'platform.'"),
    ({"operators": [{"user": "ops", "read_prefixes": ["gov.office.3101"]}],
      "operator_never_reads": ["gov.office.31"]}, "overlaps 'gov.office.31'"),
    ({"hub": None}, "hub"),
    ({"version": 2}, "version"),
])
def test_validation_errors(patch: dict, message: str) -> None:
    data = {"hub": {"user": "gigbridge-hub"}, **patch}
    if data["hub"] is None:
        del data["hub"]
    with pytest.raises(AccessError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_access(data)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(AccessError, match="cannot read access file"):
        load_access(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("hub: [unclosed\n")
    with pytest.raises(AccessError, match="not valid YAML"):
        load_access(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(AccessError, match="expected a mapping"):
        load_access(tmp_path / "list.yaml")
    # An unquoted code is refused, also one YAML would read as octal.
    (tmp_path / "octal.yaml").write_text("hub: {user: h}\noffices: [{name: ab, code: 0101, user: o}]\n")
    with pytest.raises(AccessError, match="quoted string"):
        load_access(tmp_path / "octal.yaml")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(AccessError) as err:
        parse_access({"hub": {"user": "h"}, "platforms": [{"id": "X", "user": "p"}],
                      "offices": [{"name": "o", "code": "1", "user": "o"}]})
    text = str(err.value)
    assert "platforms.0.id" in text and "offices.0.code" in text and "offices.0.name" in text


# ---------------------------------------------------------------------------------------------
# Desired ACLs per kind
# ---------------------------------------------------------------------------------------------

def test_platform_acls(acls: set[AclSpec]) -> None:
    assert of(acls, "platform-swiftmeal") == {
        *(("TOPIC", f"platform.swiftmeal.{t}", "LITERAL", op)
          for t in ("sites", "headcounts", "incidents", "orders", "cases", "case-events", "measures",
                    "algorithm-changes") for op in ("WRITE", "DESCRIBE")),
        *(("TOPIC", f"platform.swiftmeal.{t}", "LITERAL", op)
          for t in ("rejected", "statements", "claims", "cover-gaps", "cover-links", "case-updates",
                    "case-rejections", "incident-acks") for op in ("READ", "DESCRIBE")),
        *(("TOPIC", f"gov.notices.{p}", "LITERAL", op) for p in PROVINCE_CODES for op in ("READ", "DESCRIBE")),
        ("TOPIC", "public.", "PREFIXED", "READ"), ("TOPIC", "public.", "PREFIXED", "DESCRIBE"),
        ("GROUP", "platform.swiftmeal.", "PREFIXED", "READ"),
    }


def test_platform_isolation(acls: set[AclSpec]) -> None:
    for t in ("sites", "headcounts", "incidents"):
        assert can(acls, "platform-swiftmeal", "WRITE", f"platform.swiftmeal.{t}")
        assert not can(acls, "platform-swiftmeal", "WRITE", f"platform.cityrun.{t}")
        assert not can(acls, "platform-swiftmeal", "READ", f"platform.swiftmeal.{t}")  # write-only ingest
        assert not can(acls, "platform-swiftmeal", "DESCRIBE", f"platform.cityrun.{t}")
    assert not can(acls, "platform-swiftmeal", "WRITE", "platform.swiftmeal.rejected")
    assert not can(acls, "platform-swiftmeal", "READ", "platform.cityrun.rejected")
    # literal grants: a look-alike topic is not covered
    assert not can(acls, "platform-swiftmeal", "WRITE", "platform.swiftmeal.sites2")
    assert not can(acls, "platform-swiftmeal", "READ", "hub.dlq")
    assert not can(acls, "platform-swiftmeal", "READ", "gov.office.31.sites")
    assert not can(acls, "platform-swiftmeal", "CREATE", "platform.swiftmeal.sites")
    assert can(acls, "platform-swiftmeal", "READ", "platform.swiftmeal.my-app", "GROUP")
    assert not can(acls, "platform-swiftmeal", "READ", "platform.cityrun.my-app", "GROUP")


def test_office_acls(acls: set[AclSpec]) -> None:
    assert of(acls, "office-3101") == {("TOPIC", "gov.office.3101", "PREFIXED", "READ"),
                                       ("TOPIC", "gov.office.3101", "PREFIXED", "DESCRIBE"),
                                       ("GROUP", "office.shanghai.", "PREFIXED", "READ")}
    assert of(acls, "office-310101002") == {("TOPIC", "gov.office.310101002.", "PREFIXED", "READ"),
                                            ("TOPIC", "gov.office.310101002.", "PREFIXED", "DESCRIBE"),
                                            ("GROUP", "office.huangpu-nanjingdonglu.", "PREFIXED", "READ")}


@pytest.mark.parametrize("code, prefix", [("31", "gov.office.31"), ("3101", "gov.office.3101"),
                                          ("310101", "gov.office.310101"),
                                          ("310101002", "gov.office.310101002.")])
def test_office_topic_prefix(code: str, prefix: str) -> None:
    assert office_topic_prefix(code) == prefix


def test_office_prefix_semantics(acls: set[AclSpec]) -> None:
    city, county, town, prov = "office-3101", "office-310101", "office-310101002", "office-31"
    for t in ("sites", "headcounts", "incidents"):
        # a city reads its own, its counties' and its townships' topics
        assert can(acls, city, "READ", f"gov.office.3101.{t}")
        assert can(acls, city, "READ", f"gov.office.310101.{t}")
        assert can(acls, city, "READ", f"gov.office.310115.{t}")
        assert can(acls, city, "READ", f"gov.office.310101002.{t}")
        assert not can(acls, city, "READ", f"gov.office.3102.{t}")
        assert not can(acls, city, "READ", f"gov.office.320101.{t}")
        assert not can(acls, city, "READ", f"gov.office.31.{t}")      # not upwards
        # the province reads everything below
        assert can(acls, prov, "READ", f"gov.office.310101002.{t}") and can(acls, prov, "READ", f"gov.office.31.{t}")
        assert not can(acls, prov, "READ", f"gov.office.44.{t}")
        # a county reads its townships, not its siblings or parent
        assert can(acls, county, "READ", f"gov.office.310101002.{t}")
        assert not can(acls, county, "READ", f"gov.office.310104.{t}")
        assert not can(acls, county, "READ", f"gov.office.3101.{t}")
        # a township reads only itself
        assert can(acls, town, "READ", f"gov.office.310101002.{t}")
        assert not can(acls, town, "READ", f"gov.office.310101003.{t}")
        assert not can(acls, town, "READ", f"gov.office.3101010021.{t}")   # no trailing-dot escape
        assert not can(acls, town, "READ", f"gov.office.310101.{t}")
        # nobody but the hub writes office topics
        for office in (city, county, town, prov):
            assert not can(acls, office, "WRITE", f"gov.office.310101002.{t}")
    assert not can(acls, city, "READ", "gov.insurance.31.incidents")
    assert can(acls, town, "READ", "office.huangpu-nanjingdonglu.sink", "GROUP")
    assert not can(acls, town, "READ", "office.shanghai.sink", "GROUP")
    assert not can(acls, city, "READ", "office.shanghai-huangpu.sink", "GROUP")  # group prefix ends in "."


def test_insurer_acls(acls: set[AclSpec]) -> None:
    assert of(acls, "insurer-44") == {("TOPIC", "gov.insurance.44.", "PREFIXED", "READ"),
                                      ("TOPIC", "gov.insurance.44.", "PREFIXED", "DESCRIBE"),
                                      ("TOPIC", "gov.insurance.44.claim-status", "LITERAL", "WRITE"),
                                      ("TOPIC", "gov.insurance.44.claim-status", "LITERAL", "DESCRIBE"),
                                      ("GROUP", "insurer.guangdong-injury.", "PREFIXED", "READ")}
    for t in ("incidents", "receipts", "dlq", "cover", "statements", "cover-gaps", "cover-links"):
        assert can(acls, "insurer-44", "READ", f"gov.insurance.44.{t}")
        assert not can(acls, "insurer-44", "WRITE", f"gov.insurance.44.{t}")
        assert not can(acls, "insurer-44", "READ", f"gov.insurance.31.{t}")
        assert not can(acls, "insurer-44", "READ", f"gov.insurance.441.{t}")
    assert not can(acls, "insurer-44", "READ", "gov.office.44.incidents")


def test_cover_case_and_notice_families_are_least_privilege(acls: set[AclSpec]) -> None:
    a, b = "platform-swiftmeal", "platform-cityrun"
    for t in ("orders", "cases", "case-events", "measures", "algorithm-changes"):  # platform writes
        assert can(acls, a, "WRITE", f"platform.swiftmeal.{t}") and not can(acls, a, "READ", f"platform.swiftmeal.{t}")
        assert not can(acls, b, "WRITE", f"platform.swiftmeal.{t}")
        assert not can(acls, b, "DESCRIBE", f"platform.swiftmeal.{t}")
    for t in ("statements", "claims", "cover-gaps", "cover-links", "case-updates", "case-rejections",
              "incident-acks"):
        assert can(acls, a, "READ", f"platform.swiftmeal.{t}") and not can(acls, a, "WRITE", f"platform.swiftmeal.{t}")
        assert not can(acls, b, "READ", f"platform.swiftmeal.{t}")      # A's claims are not B's business
        assert can(acls, "gigbridge-hub", "WRITE", f"platform.swiftmeal.{t}")
    # notices: every platform reads every province's notices, never the per-platform status, writes none
    for province in ("11", "31", "44", "65"):
        assert can(acls, a, "READ", f"gov.notices.{province}") and can(acls, b, "READ", f"gov.notices.{province}")
        assert not can(acls, a, "WRITE", f"gov.notices.{province}")
        assert not can(acls, a, "READ", f"gov.notices.{province}.status")
        assert can(acls, "gigbridge-hub", "WRITE", f"gov.notices.{province}.status")
    assert not can(acls, a, "READ", "gov.notices.99") and not can(acls, a, "READ", "gov.notices.440")
    # the notice webhooks' copies and receipts are the hub's own (it posts them), no platform reads them
    for topic in ("gov.notices.webhooks.swiftmeal", "gov.notices.webhooks.receipts", "gov.notices.webhooks.dlq"):
        assert can(acls, "gigbridge-hub", "WRITE", topic) and can(acls, "gigbridge-hub", "READ", topic)
        assert not can(acls, a, "READ", topic) and not can(acls, b, "READ", topic)
    # the algorithm register is public; the regulator's copy is the regulator's
    for reader in (a, b, "public-register"):
        assert can(acls, reader, "READ", "public.algorithm-register")
        assert not can(acls, reader, "WRITE", "public.algorithm-register")
        assert not can(acls, reader, "READ", "gov.regulator.algorithm-changes")
    assert can(acls, "regulator-a", "READ", "gov.regulator.algorithm-changes")
    assert not can(acls, "regulator-a", "WRITE", "gov.regulator.algorithm-changes")
    assert not can(acls, "regulator-a", "READ", "platform.swiftmeal.algorithm-changes")
    assert can(acls, "gigbridge-hub", "WRITE", "public.algorithm-register")
    for reader in ("regulator-a", "public-register", "insurer-44", "unit-x", "office-3101"):
        assert not can(acls, reader, "READ", "hub.cases.state")
    # the cover stage's input of insured incidents (platform refs): the hub's alone
    assert can(acls, "gigbridge-hub", "READ", "hub.cover.incidents")
    assert can(acls, "gigbridge-hub", "WRITE", "hub.cover.incidents")
    for other in ("regulator-a", "public-register", "insurer-44", "unit-x", "office-3101", a, b, "ops"):
        assert not can(acls, other, "READ", "hub.cover.incidents")
        assert not can(acls, other, "WRITE", "hub.cover.incidents")
    assert can(acls, "office-3101", "READ", "gov.office.310101.cases")
    assert not can(acls, "unit-x", "READ", "gov.office.110105.cases")
    assert can(acls, "regulator-a", "READ", "regulator.algorithms.x", "GROUP")
    assert can(acls, "public-register", "READ", "public.register.x", "GROUP")
    assert not can(acls, "public-register", "READ", "public.other.x", "GROUP")


def test_every_catalog_topic_has_exactly_its_writers(acls: set[AclSpec]) -> None:
    """Each topic of schemas/catalog.yaml: who may write it, by the rules of docs/access.md."""
    from schemas.catalog import default_catalog

    values = {"platform": "swiftmeal", "division": "310101", "province": "44", "unit": "110105-hrss"}
    users = parse_access(BASE).user_names()
    topics = {t.format(**values) for c in default_catalog().contracts for t in c.topics if "{app}" not in t}
    assert len(topics) > 40
    for topic in sorted(topics):
        if topic == "gov.insurance.44.claim-status":
            expected = {"insurer-44"}                               # written ONLY by the insurer
        elif topic.startswith("gov.units.110105-hrss.case-events") or topic.endswith(".incident-acks") \
                and topic.startswith("gov.units."):
            expected = {"unit-x"}
        elif topic.startswith("platform.swiftmeal.") and topic.split(".")[2] in (
                "sites", "headcounts", "incidents", "orders", "cases", "case-events", "measures", "algorithm-changes"):
            expected = {"platform-swiftmeal", "gigbridge-hub"}      # the hub's platform. prefix (docs/access.md)
        else:
            expected = {"gigbridge-hub"}
        assert {u for u in users if can(acls, u, "WRITE", topic)} == expected, topic
        assert can(acls, "gigbridge-hub", "READ", topic), topic
        assert not can(acls, "ops", "READ", topic), topic


def test_insurer_writes_only_its_claim_status(acls: set[AclSpec]) -> None:
    assert can(acls, "insurer-44", "WRITE", "gov.insurance.44.claim-status")
    assert not can(acls, "insurer-44", "WRITE", "gov.insurance.31.claim-status")
    assert not can(acls, "insurer-31", "WRITE", "gov.insurance.44.claim-status")
    for t in ("cover", "statements", "cover-gaps", "claim-status", "claim-rejections"):
        assert not can(acls, "insurer-44", "READ", f"gov.insurance.31.{t}")
    for t in ("cover", "statements", "cover-gaps", "cover-links", "incidents"):
        assert not can(acls, "insurer-44", "WRITE", f"gov.insurance.44.{t}")
    # written ONLY by the insurer: the hub reads it, its gov. grant is overridden by a DENY
    assert can(acls, "gigbridge-hub", "READ", "gov.insurance.44.claim-status")
    assert not can(acls, "gigbridge-hub", "WRITE", "gov.insurance.44.claim-status")
    assert can(acls, "gigbridge-hub", "WRITE", "gov.insurance.44.cover")
    assert not can(acls, "platform-swiftmeal", "READ", "gov.insurance.44.claim-status")
    # the hub's refusals of claim updates: written by the hub, read by that province's insurer only
    assert can(acls, "gigbridge-hub", "WRITE", "gov.insurance.44.claim-rejections")
    assert can(acls, "insurer-44", "READ", "gov.insurance.44.claim-rejections")
    assert not can(acls, "insurer-44", "WRITE", "gov.insurance.44.claim-rejections")
    assert not can(acls, "platform-swiftmeal", "READ", "gov.insurance.44.claim-rejections")


def test_unit_acls(acls: set[AclSpec]) -> None:
    assert of(acls, "unit-x") == {
        *(("TOPIC", f"gov.units.110105-hrss.{t}", "LITERAL", op)
          for t in ("case-events", "incident-acks") for op in ("WRITE", "DESCRIBE")),
        *(("TOPIC", f"gov.units.110105-hrss.{t}", "LITERAL", op)
          for t in ("case-updates", "case-rejections") for op in ("READ", "DESCRIBE")),
        ("GROUP", "unit.110105-hrss.", "PREFIXED", "READ")}
    for t in ("case-events", "incident-acks"):
        assert not can(acls, "unit-x", "WRITE", f"gov.units.310115-hrss.{t}")   # X cannot write Y's
        assert not can(acls, "gigbridge-hub", "WRITE", f"gov.units.110105-hrss.{t}")
        assert can(acls, "gigbridge-hub", "READ", f"gov.units.110105-hrss.{t}")
        assert not can(acls, "platform-swiftmeal", "WRITE", f"gov.units.110105-hrss.{t}")
    for t in ("case-updates", "case-rejections"):
        assert not can(acls, "unit-x", "READ", f"gov.units.310115-hrss.{t}")
        assert not can(acls, "unit-x", "WRITE", f"gov.units.110105-hrss.{t}")
        assert can(acls, "gigbridge-hub", "WRITE", f"gov.units.110105-hrss.{t}")
    assert not can(acls, "unit-x", "READ", "platform.swiftmeal.cases")
    assert not can(acls, "unit-x", "READ", "unit.310115-hrss.x", "GROUP")
    # what a unit sends over HTTP: written by the hub's gateway only, read by the hub only
    assert can(acls, "gigbridge-hub", "WRITE", "hub.units.gateway")
    assert can(acls, "gigbridge-hub", "READ", "hub.units.gateway")
    for user in ("unit-x", "platform-swiftmeal", "ops"):
        assert not can(acls, user, "WRITE", "hub.units.gateway") and not can(acls, user, "READ", "hub.units.gateway")


def test_units_must_exist_in_the_units_file(tmp_path: Path) -> None:
    exists = units_of()
    assert exists("110105-hrss") and exists("310115-hrss")
    assert exists("320105-gov")                # an unlisted county's government: the routing's fallback
    assert not exists("999999-nowhere") and not exists("110105-police")
    assert all(exists(u.id) for u in load_access(DEFAULT_ACCESS_FILE).units)
    data = {"hub": {"user": "h"}, "units": [{"id": "110105-police", "user": "u"}]}
    with pytest.raises(AccessError, match=r"units\.0\.id: '110105-police' is not a unit"):
        parse_access(data, unit_exists=exists)
    assert parse_access(data).units[0].id == "110105-police"          # no units file, no check
    (tmp_path / "a.yaml").write_text("hub: {user: h}\nunits: [{id: 110105-police, user: u}]\n")
    with pytest.raises(AccessError, match="is not a unit"):
        load_access(tmp_path / "a.yaml")
    assert load_access(tmp_path / "a.yaml", units_file=None).units      # check skipped on request
    with pytest.raises(AccessError, match="cannot read units file"):
        load_access(tmp_path / "a.yaml", units_file=tmp_path / "missing.yaml")
    (tmp_path / "bad-units.yaml").write_text("units: [{id: X}]\n")
    with pytest.raises(AccessError, match="invalid units file"):
        load_access(tmp_path / "a.yaml", units_file=tmp_path / "bad-units.yaml")


def test_province_codes_are_the_division_tables_provinces() -> None:
    from gigbridge.divisions import default_table, pad

    table = default_table()
    assert all(table.get(pad(code)) is not None for code in PROVINCE_CODES)
    assert len(PROVINCE_CODES) == len(set(PROVINCE_CODES)) == 31


def test_hub_acls(acls: set[AclSpec]) -> None:
    hub = of(acls, "gigbridge-hub")
    assert hub == {
        ("TOPIC", "platform.", "PREFIXED", "READ"), ("TOPIC", "platform.", "PREFIXED", "WRITE"),
        ("TOPIC", "platform.", "PREFIXED", "DESCRIBE"),
        *(("TOPIC", prefix, "PREFIXED", op) for prefix in ("hub.", "gov.", "public.", "gigbridge-hub")
          for op in ("READ", "WRITE", "CREATE", "DESCRIBE")),
        ("GROUP", "gigbridge-hub", "PREFIXED", "READ"),
        ("CLUSTER", "kafka-cluster", "LITERAL", "DESCRIBE"), ("CLUSTER", "kafka-cluster", "LITERAL", "CREATE"),
        ("CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE"),
    }
    assert can(acls, "gigbridge-hub", "READ", "platform.anyone.incidents")
    assert can(acls, "gigbridge-hub", "WRITE", "platform.anyone.rejected")
    assert can(acls, "gigbridge-hub", "WRITE", "gov.office.310101.sites")
    assert can(acls, "gigbridge-hub", "WRITE", "gigbridge-hub-dedupe-changelog")
    assert can(acls, "gigbridge-hub", "READ", "gigbridge-hub", "GROUP")
    assert not can(acls, "gigbridge-hub", "READ", "office.shanghai.x", "GROUP")
    assert not can(acls, "gigbridge-hub", "READ", "other-app-changelog")


def test_hub_app_id_is_configurable() -> None:
    acls = desired_acls(parse_access({"hub": {"user": "hub2", "app_id": "gb-staging"}}))
    assert can(acls, "hub2", "WRITE", "gb-staging-x-changelog")
    assert can(acls, "hub2", "READ", "gb-staging", "GROUP")
    assert not can(acls, "hub2", "READ", "gigbridge-hub", "GROUP")


def test_operator_acls(acls: set[AclSpec]) -> None:
    for topic in ("platform.swiftmeal.sites", "gov.office.310101.sites", "hub.dlq", "anything"):
        assert can(acls, "ops", "DESCRIBE", topic) and can(acls, "ops", "DESCRIBE_CONFIGS", topic)
        assert not can(acls, "ops", "WRITE", topic) and not can(acls, "ops", "CREATE", topic)
    # monitoring-safe only: hub.validated.* holds the platforms' worker refs and full-precision
    # coordinates, hub.dlq the original bytes; operators read no topic by default
    for topic in ("hub.dlq", "hub.validated.sites", "hub.validated.incidents", "gov.insurance.44.incidents",
                  "platform.swiftmeal.rejected", "anything"):
        assert not can(acls, "ops", "READ", topic)
    assert not any(a.operation == "READ" and a.resource_type == "TOPIC" for a in acls if a.principal == "User:ops")
    assert not can(acls, "ops", "READ", "gov.office.310101.sites")
    assert not can(acls, "ops", "READ", "platform.swiftmeal.sites")
    assert can(acls, "ops", "DESCRIBE", "office.shanghai.sink", "GROUP")       # lag monitoring
    assert not can(acls, "ops", "READ", "office.shanghai.sink", "GROUP")
    assert can(acls, "ops", "READ", "operator.ops.dlq-peek", "GROUP")
    assert can(acls, "ops", "DESCRIBE", "kafka-cluster", "CLUSTER")
    assert not can(acls, "ops", "ALTER", "kafka-cluster", "CLUSTER")
    declared = desired_acls(parse_access({"hub": {"user": "h"},
                                          "operators": [{"user": "ops", "read_prefixes": ["gov.office.3101"]}]}))
    assert can(declared, "ops", "READ", "gov.office.310101.sites")
    assert not can(declared, "ops", "READ", "gov.office.3201.sites")


def test_only_allow_bindings_but_the_hubs_partner_denials(access: AccessFile, acls: set[AclSpec]) -> None:
    assert {a.principal for a in acls} == {f"User:{u}" for u in access.user_names()}
    assert {a.permission for a in acls} == {"ALLOW", "DENY"}
    assert {a for a in acls if a.permission == "DENY"} == {
        AclSpec("User:gigbridge-hub", "TOPIC", t, "LITERAL", "WRITE", "DENY") for t in (
            "gov.insurance.44.claim-status", "gov.insurance.31.claim-status",
            "gov.units.110105-hrss.case-events", "gov.units.110105-hrss.incident-acks",
            "gov.units.310115-hrss.case-events", "gov.units.310115-hrss.incident-acks")}
    assert not any(a.operation in ("ALL", "ALTER", "DELETE", "ALTER_CONFIGS", "CLUSTER_ACTION") for a in acls)


# ---------------------------------------------------------------------------------------------
# Authorization rules of the evaluator
# ---------------------------------------------------------------------------------------------

def test_is_allowed_follows_broker_rules() -> None:
    A = lambda *a, **k: AclSpec(*a, **k)  # noqa: E731
    acls = {A("User:u", "TOPIC", "t.", "PREFIXED", "READ"),
            A("User:u", "TOPIC", "t.secret", "LITERAL", "READ", "DENY"),
            A("User:u", "TOPIC", "all", "LITERAL", "ALL"),
            A("User:*", "TOPIC", "public", "LITERAL", "READ"),
            A("User:v", "TOPIC", "*", "LITERAL", "ALTER_CONFIGS")}
    assert is_allowed(acls, "User:u", "TOPIC", "t.a", "READ")
    assert is_allowed(acls, "u", "TOPIC", "t.a", "DESCRIBE")           # implied by READ
    assert not is_allowed(acls, "User:u", "TOPIC", "t.secret", "READ")  # DENY wins
    assert is_allowed(acls, "User:u", "TOPIC", "t.secret", "DESCRIBE")  # a denied READ still implies nothing denied
    assert is_allowed(acls, "User:u", "TOPIC", "all", "WRITE")          # ALL
    assert is_allowed(acls, "User:w", "TOPIC", "public", "READ")        # User:* wildcard
    assert is_allowed(acls, "User:v", "TOPIC", "x", "DESCRIBE_CONFIGS")  # literal *, implied
    assert not is_allowed(acls, "User:v", "TOPIC", "x", "DESCRIBE")
    assert not is_allowed(acls, "User:u", "GROUP", "t.a", "READ")       # resource type matters
    assert not is_allowed(acls, "User:u", "TOPIC", "t.a", "CREATE")
    assert is_allowed(acls | {A("User:u", "CLUSTER", "kafka-cluster", "LITERAL", "CREATE")},
                      "User:u", "TOPIC", "t.a", "CREATE")               # cluster CREATE covers topics


# ---------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------

def test_plan_creates_missing_and_is_empty_when_in_sync(acls: set[AclSpec]) -> None:
    assert plan(acls, set()) == (acls, set())
    assert plan(acls, acls) == (set(), set())


def test_plan_deletion_scope(acls: set[AclSpec]) -> None:
    hand_declared = AclSpec("User:platform-swiftmeal", "TOPIC", "platform.cityrun.sites", "LITERAL", "WRITE")
    deny_declared = AclSpec("User:ops", "TOPIC", "hub.dlq", "LITERAL", "READ", "DENY")
    other_host = AclSpec("User:ops", "TOPIC", "hub.", "PREFIXED", "READ", host="10.0.0.7")
    undeclared = AclSpec("User:former-platform", "TOPIC", "platform.former.sites", "LITERAL", "WRITE")
    wildcard = AclSpec("User:*", "TOPIC", "*", "LITERAL", "READ")
    admin = AclSpec("User:admin", "TOPIC", "*", "LITERAL", "ALL")
    connect = AclSpec("User:connect", "GROUP", "connect-", "PREFIXED", "READ")
    other_type = AclSpec("Group:ops-team", "TOPIC", "hub.", "PREFIXED", "READ")
    missing = next(iter(sorted(acls)))
    current = (acls - {missing}) | {hand_declared, deny_declared, other_host, undeclared, wildcard,
                                    admin, connect, other_type}

    to_create, to_delete = plan(acls, current, protected={"User:admin", "connect"})
    assert to_create == {missing}
    assert to_delete == {hand_declared, deny_declared, other_host, undeclared, wildcard}

    # keep undeclared principals: only the declared users' extras go
    _, to_delete = plan(acls, current, protected={"User:admin"}, prune_undeclared=False)
    assert to_delete == {hand_declared, deny_declared, other_host}

    # without protection "connect" is just an undeclared user
    _, to_delete = plan(acls, current, protected={"User:admin"})
    assert connect in to_delete and admin not in to_delete and other_type not in to_delete


def test_plan_refuses_to_manage_a_protected_principal(acls: set[AclSpec]) -> None:
    with pytest.raises(ValueError, match="User:ops"):
        plan(acls, set(), protected={"User:admin", "ops"})


# ---------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------

def test_secret_env_var_names() -> None:
    assert secret_env_var("platform-swiftmeal") == "GIGBRIDGE_ACCESS_SECRET_PLATFORM_SWIFTMEAL"
    assert secret_env_var("office-310101") == "GIGBRIDGE_ACCESS_SECRET_OFFICE_310101"
    assert secret_env_var("svc.hub_1") == SECRET_ENV_PREFIX + "SVC_HUB_1"
    assert dev_secret("ops") == "dev-ops-secret"


def test_resolve_secrets_precedence(tmp_path: Path) -> None:
    access = parse_access({"hub": {"user": "gigbridge-hub"}, "operators": [{"user": "ops"}, {"user": "ops2"}],
                           "platforms": [{"id": "aa", "user": "platform-aa"}]})
    (tmp_path / "ops").write_text("from-file\n")
    (tmp_path / "gigbridge-hub").write_text("hub-file")
    env = {"GIGBRIDGE_ACCESS_SECRET_GIGBRIDGE_HUB": "hub-env", "GIGBRIDGE_ACCESS_SECRET_OPS2": "",
           SECRETS_DIR_ENV: str(tmp_path)}
    secrets = resolve_secrets(access, env=env, dev=True)
    assert dict(secrets) == {"gigbridge-hub": "hub-env", "ops": "from-file", "ops2": "dev-ops2-secret",
                             "platform-aa": "dev-platform-aa-secret"}
    assert secrets.sources == {"gigbridge-hub": "env", "ops": "file", "ops2": "dev", "platform-aa": "dev"}
    assert "hub-env" not in repr(secrets) and "from-file" not in repr(secrets)
    # an explicit secrets_dir wins over the env setting
    other = tmp_path / "other"
    other.mkdir()
    (other / "ops").write_text("other-file")
    assert resolve_secrets(access, env=env, secrets_dir=other, dev=True)["ops"] == "other-file"


def test_missing_secrets_without_dev_name_every_user(tmp_path: Path) -> None:
    access = parse_access({"hub": {"user": "gigbridge-hub"}, "operators": [{"user": "ops"}]})
    with pytest.raises(MissingSecretsError) as err:
        resolve_secrets(access, env={})
    assert err.value.users == ["gigbridge-hub", "ops"]
    assert "GIGBRIDGE_ACCESS_SECRET_GIGBRIDGE_HUB" in str(err.value) and "--dev" in str(err.value)
    with pytest.raises(MissingSecretsError, match="ops"):
        resolve_secrets(access, env={"GIGBRIDGE_ACCESS_SECRET_GIGBRIDGE_HUB": "x"}, secrets_dir=tmp_path)


def test_secret_source_errors(tmp_path: Path) -> None:
    access = parse_access({"hub": {"user": "gigbridge-hub"}})
    with pytest.raises(AccessError, match="does not exist"):
        resolve_secrets(access, env={SECRETS_DIR_ENV: str(tmp_path / "nope")}, dev=True)
    (tmp_path / "gigbridge-hub").write_text("\n")
    with pytest.raises(AccessError, match="is empty"):
        resolve_secrets(access, env={}, secrets_dir=tmp_path, dev=True)


# ---------------------------------------------------------------------------------------------
# Matrix
# ---------------------------------------------------------------------------------------------

def test_effective_matrix(access: AccessFile, acls: set[AclSpec]) -> None:
    matrix = effective_matrix(acls, access)
    assert matrix.cell("platform-swiftmeal", "platform.swiftmeal.{sites,headcounts,incidents}") == "WD"
    assert matrix.cell("platform-swiftmeal", "platform.swiftmeal.rejected") == "RD"
    assert matrix.cell("platform-cityrun", "platform.swiftmeal.{sites,headcounts,incidents}") == "-"
    assert matrix.cell("office-3101", "gov.office.310101.*") == "RD"
    assert matrix.cell("office-3101", "gov.office.310101002.*") == "RD"
    assert matrix.cell("office-310101002", "gov.office.310101.*") == "-"
    assert matrix.cell("insurer-44", "gov.insurance.44.*") == "RD"
    assert matrix.cell("ops", "hub.*") == "D"
    assert matrix.cell("ops", "gov.office.3101.*") == "D"
    # the hub's cluster-level CREATE lets it create any topic (shown honestly)
    assert matrix.cell("gigbridge-hub", "platform.swiftmeal.{sites,headcounts,incidents}") == "RWCD"
    assert matrix.cell("gigbridge-hub", "cluster") == "CD"
    text = matrix.format()
    assert text.splitlines()[0].split() == ["resource", *access.user_names()]
    assert "!" not in text

    drifted = effective_matrix(acls | {AclSpec("User:ops", "TOPIC", "gov.", "PREFIXED", "READ")}, access)
    marked = [line for line in drifted.format(expected=matrix).splitlines() if "!" in line]
    # 4 office, 2x2 insurance, 2x2 unit, 2 notices, 1 regulator rows
    assert len(marked) == 16 and all(line.startswith("gov.") for line in marked)


def test_matrix_shows_partial_grants_in_lower_case(access: AccessFile, acls: set[AclSpec]) -> None:
    label = "platform.swiftmeal.{sites,headcounts,incidents}"
    hand = AclSpec("User:platform-cityrun", "TOPIC", "platform.swiftmeal.sites", "LITERAL", "READ")
    expected = effective_matrix(acls, access)
    drifted = effective_matrix(acls | {hand}, access)
    assert drifted.cell("platform-cityrun", label) == "rd"     # on one of the three topics only
    assert drifted.allowed("platform-cityrun", label) == frozenset()
    row = next(line for line in drifted.format(expected).splitlines() if line.startswith(label))
    assert "rd!" in row


def test_matrix_extra_families(access: AccessFile, acls: set[AclSpec]) -> None:
    sibling = Family("gov.office.310101003.*", "TOPIC", ("gov.office.310101003.sites",))
    matrix = effective_matrix(acls, access, topic_families(access, extra=[sibling]))
    assert matrix.cell("office-310101002", sibling.label) == "-"
    assert matrix.cell("office-310101", sibling.label) == "RD"


# ---------------------------------------------------------------------------------------------
# CLI (error paths that never reach a broker)
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(SECRET_ENV_PREFIX) or name == SECRETS_DIR_ENV:
            monkeypatch.delenv(name)
    return monkeypatch


def test_add_cli_registers_apply_and_check() -> None:
    parser = argparse.ArgumentParser(prog="gigbridge")
    add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["access", "apply", "--file", "x.yaml", "--dev", "--dry-run"])
    assert (args.file, args.dev, args.dry_run, args.keep_undeclared) == ("x.yaml", True, True, False)
    assert args.func is access_cli.cmd_apply
    args = parser.parse_args(["access", "check"])
    assert args.func is access_cli.cmd_check and args.file == str(DEFAULT_ACCESS_FILE)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["access", "check", "--dev"])
    assert exit_info.value.code == 2


def test_cli_missing_secret_exits_2(clean_env, capsys: pytest.CaptureFixture) -> None:
    assert access_cli.main(["access", "apply", "--file", str(DEFAULT_ACCESS_FILE)]) == 2
    err = capsys.readouterr().err
    assert "no secret for" in err and "GIGBRIDGE_ACCESS_SECRET_PLATFORM_SWIFTMEAL" in err


def test_cli_invalid_file_exits_2(clean_env, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "access.yaml"
    bad.write_text("hub: {user: h}\nplatforms: [{id: X, user: p}]\n")
    assert access_cli.main(["access", "check", "--file", str(bad)]) == 2
    assert access_cli.main(["access", "apply", "--dev", "--file", str(bad)]) == 2
    assert "platforms.0.id" in capsys.readouterr().err
