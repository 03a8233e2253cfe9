"""Strimzi ``KafkaUser`` resources from ``deploy/access.yaml``: ``gigbridge access export --format strimzi``.

The ACLs are exactly :func:`gigbridge.access.desired_acls` -- the same set ``gigbridge access
apply`` writes to a broker -- translated to Strimzi's ``simple`` authorization: one ACL rule per
resource (type, name, pattern) with all its operations. The translation is lossless: a
``LITERAL`` pattern becomes ``literal`` (the name ``*`` keeps its "every name" meaning), a
``PREFIXED`` one ``prefix``, ``CLUSTER`` the nameless ``cluster`` resource, and every operation its
Strimzi spelling (``IDEMPOTENT_WRITE`` -> ``IdempotentWrite``); :func:`acls_of_users` reads
them back for the test that proves it.

Each declared user authenticates with SCRAM-SHA-512; Strimzi's User Operator generates its
password into a Secret named after the user (key ``password``). The file's ``super_users`` get a
``KafkaUser`` without ACLs (the ``Kafka`` resource lists them in ``authorization.superUsers``).

The output is deterministic (sorted rules, file order of users), so the committed
``deploy/k8s/base/kafka/kafka-users.yaml`` can be compared with a fresh export.
"""

from __future__ import annotations

from collections.abc import Iterable

import yaml

from gigbridge.access import CLUSTER_RESOURCE, AccessFile, AclSpec, desired_acls, principal_of

API_VERSION = "kafka.strimzi.io/v1"
CLUSTER_LABEL = "strimzi.io/cluster"
DEFAULT_CLUSTER = "gigbridge"

_PATTERNS = {"LITERAL": "literal", "PREFIXED": "prefix"}
_RESOURCES = {"TOPIC": "topic", "GROUP": "group", "CLUSTER": "cluster", "TRANSACTIONAL_ID": "transactionalId"}
_OPERATIONS = {"READ": "Read", "WRITE": "Write", "CREATE": "Create", "DELETE": "Delete", "ALTER": "Alter",
               "DESCRIBE": "Describe", "CLUSTER_ACTION": "ClusterAction", "ALTER_CONFIGS": "AlterConfigs",
               "DESCRIBE_CONFIGS": "DescribeConfigs", "IDEMPOTENT_WRITE": "IdempotentWrite", "ALL": "All"}


def _rules(acls: Iterable[AclSpec]) -> list[dict]:
    """Strimzi ACL rules: one per (permission, resource, host), operations in a fixed order."""
    grouped: dict[tuple[str, str, str, str, str], set[str]] = {}
    for acl in acls:
        key = (acl.permission, acl.resource_type, acl.resource_name, acl.pattern_type, acl.host)
        grouped.setdefault(key, set()).add(acl.operation)
    order = list(_OPERATIONS)
    rules = []
    for (permission, rtype, name, pattern, host), ops in sorted(grouped.items()):
        resource: dict[str, str] = {"type": _RESOURCES[rtype]}
        if rtype != "CLUSTER":
            resource |= {"name": name, "patternType": _PATTERNS[pattern]}
        rules.append({"type": permission.lower(), "resource": resource, "host": host,
                      "operations": [_OPERATIONS[op] for op in sorted(ops, key=order.index)]})
    return rules


def kafka_users(access: AccessFile, cluster: str = DEFAULT_CLUSTER) -> list[dict]:
    """One ``KafkaUser`` per declared user (file order), then one per super user."""
    acls = desired_acls(access)

    def user(name: str, kind: str, authorization: dict | None) -> dict:
        spec: dict = {"authentication": {"type": "scram-sha-512"}}
        if authorization is not None:
            spec["authorization"] = authorization
        return {"apiVersion": API_VERSION, "kind": "KafkaUser",
                "metadata": {"name": name, "labels": {CLUSTER_LABEL: cluster,
                                                      "app.kubernetes.io/part-of": "gigbridge",
                                                      "gigbridge.io/access-kind": kind}},
                "spec": spec}

    users = []
    for kind, name in dict.fromkeys(access.users()):
        own = [a for a in acls if a.principal == principal_of(name)]
        users.append(user(name, kind, {"type": "simple", "acls": _rules(own)}))
    users += [user(name, "super-user", None) for name in access.super_users]
    return users


def export_yaml(access: AccessFile, cluster: str = DEFAULT_CLUSTER, source: str = "deploy/access.yaml") -> str:
    """The multi-document YAML of :func:`kafka_users`, with a header naming its source."""
    header = (f"# Generated from {source} by `gigbridge access export --format strimzi`; do not edit.\n"
              "# tests/deploy/test_k8s.py fails when this file and a fresh export differ.\n")
    return header + yaml.safe_dump_all(kafka_users(access, cluster), sort_keys=False, explicit_start=True)


def acls_of_users(users: Iterable[dict]) -> set[AclSpec]:
    """The ACL bindings the User Operator creates for ``users`` (inverse of the export)."""
    patterns = {v: k for k, v in _PATTERNS.items()}
    resources = {v: k for k, v in _RESOURCES.items()}
    operations = {v: k for k, v in _OPERATIONS.items()}
    out = set()
    for user in users:
        for rule in user["spec"].get("authorization", {}).get("acls", []):
            res = rule["resource"]
            rtype = resources[res["type"]]
            name = CLUSTER_RESOURCE if rtype == "CLUSTER" else res["name"]
            pattern = patterns[res.get("patternType", "literal")]
            for op in rule["operations"]:
                out.add(AclSpec(principal_of(user["metadata"]["name"]), rtype, name, pattern,
                                operations[op], rule.get("type", "allow").upper(), rule.get("host", "*")))
    return out
