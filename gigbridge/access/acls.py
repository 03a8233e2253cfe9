"""The least-privilege ACLs of an access file, the diff against a broker's, and their effect
(pure, no Kafka).

* :func:`desired_acls` -- the complete ACL set (:class:`AclSpec`) for an :class:`AccessFile`.
* :func:`plan` -- what to create and what to delete to turn the current ACLs into the desired
  ones (deletion scope: see :mod:`gigbridge.access`).
* :func:`is_allowed`, :func:`effective_matrix` -- evaluate ACLs with the broker's rules
  (``StandardAuthorizer``, see :mod:`gigbridge.access`), as a matrix of topic families by user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from gigbridge.access.model import OFFICE_LEVELS, AccessFile

CLUSTER_RESOURCE = "kafka-cluster"

# Topic names (final; tests/gigbridge/test_access.py checks them against streams.core.topics and
# schemas/catalog.yaml).
INGEST_TYPES = ("sites", "headcounts", "incidents")
#: Other topics a platform writes: injury-cover orders (docs/cover.md), concern cases
#: (docs/cases.md), protection measures and algorithm-rule changes (docs/notices.md).
PLATFORM_WRITES = ("orders", "cases", "case-events", "measures", "algorithm-changes")
#: Topics the hub writes back to a platform, besides ``rejected``.
PLATFORM_READS = ("statements", "claims", "cover-gaps", "cover-links", "case-updates", "case-rejections", "incident-acks")
OFFICE_TYPES = ("sites", "headcounts", "incidents")
#: Topics under an insurer's ``gov.insurance.<province>.`` that the hub writes (the insurer reads).
INSURANCE_TYPES = ("incidents", "receipts", "dlq", "cover", "statements", "cover-gaps", "cover-links", "claim-rejections")
#: The one topic an insurer writes; the hub only reads it.
CLAIM_STATUS = "claim-status"
UNIT_WRITES = ("case-events", "incident-acks")
UNIT_READS = ("case-updates", "case-rejections")
HUB_SAMPLE_TOPICS = ("hub.validated.sites", "hub.validated.headcounts", "hub.validated.incidents", "hub.dlq",
                     "hub.validated.orders", "hub.validated.claim-status", "hub.validated.cases",
                     "hub.validated.case-events", "hub.validated.incident-acks", "hub.cases.state",
                     "hub.cover.incidents", "hub.claim-status.gateway", "hub.units.gateway")
#: The 31 province-level divisions of the 2023 division table (gigbridge.divisions): every
#: platform reads ``gov.notices.<province>`` of each, by literal grants -- a ``gov.notices.``
#: prefix would also cover ``gov.notices.<province>.status``, which holds every platform's
#: answers to a notice.
PROVINCE_CODES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                  "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                  "65")
REGULATOR_PREFIX = "gov.regulator."
PUBLIC_PREFIX = "public."


class AclSpec(NamedTuple):
    """One ACL binding, with kafka-python enum *names* as strings (``"TOPIC"``, ``"PREFIXED"``, ...)."""
    principal: str
    resource_type: str
    resource_name: str
    pattern_type: str
    operation: str
    permission: str = "ALLOW"
    host: str = "*"

    def __str__(self) -> str:
        host = "" if self.host == "*" else f" from {self.host}"
        return (f"{self.permission} {self.principal} {self.operation} on {self.resource_type} "
                f"{self.pattern_type.lower()} {self.resource_name!r}{host}")


def principal_of(user: str) -> str:
    return user if ":" in user else f"User:{user}"


def office_topic_prefix(code: str) -> str:
    """PREFIXED topic ACL name for an office with division code ``code``.

    Township codes (9 digits, the finest level with office topics) get a trailing dot so
    ``310101002`` never matches a longer code such as a 12-digit village; coarser levels get none,
    so a city ``3101`` reads ``gov.office.3101.*`` *and* every county/township below it
    (``gov.office.310101.sites``, ``gov.office.310101002.sites``)."""
    length = len(code)
    if length not in OFFICE_LEVELS or not code.isdigit():
        raise ValueError(f"office code {code!r} must be 2/4/6/9 digits")
    return f"gov.office.{code}." if OFFICE_LEVELS[length] == "township" else f"gov.office.{code}"


def insurance_topic_prefix(province: str) -> str:
    return f"gov.insurance.{province}."


def notice_topic(province: str) -> str:
    return f"gov.notices.{province}"


def group_prefix(kind: str, ident: str) -> str:
    """Consumer-group id prefix a principal may use: ``office.<name>.``, ``insurer.<name>.``,
    ``platform.<id>.``, ``unit.<id>.``, ``regulator.<name>.``, ``public.<name>.``,
    ``operator.<user>.``; the hub uses its app id (Faust's group id)."""
    if kind == "hub":
        return ident
    return f"{kind}.{ident}."


def _grant(principal: str, resource_type: str, name: str, pattern: str, *ops: str) -> set[AclSpec]:
    return {AclSpec(principal, resource_type, name, pattern, op) for op in ops}


def partner_written_topics(access: AccessFile) -> list[str]:
    """The ``gov.`` topics a declared partner writes (insurers' claim status, units' case events
    and incident acknowledgements): the hub reads them and never writes them."""
    topics = [f"{insurance_topic_prefix(p)}{CLAIM_STATUS}" for p in dict.fromkeys(i.province for i in access.insurers)]
    return topics + [f"gov.units.{u.id}.{t}" for u in access.units for t in UNIT_WRITES]


def desired_acls(access: AccessFile) -> set[AclSpec]:
    """The complete least-privilege ACL set for ``access`` (host ``*``).

    All bindings are ALLOW except the hub's DENY WRITE on :func:`partner_written_topics`: its
    ``gov.`` prefix grant would otherwise let it forge an insurer's or a unit's records.
    READ/WRITE on topics are always accompanied by an explicit DESCRIBE (implied by the broker
    anyway, but it makes ``kafka-acls --list`` self-explanatory)."""
    acls: set[AclSpec] = set()
    for p in access.platforms:
        who = principal_of(p.user)
        for topic_type in (*INGEST_TYPES, *PLATFORM_WRITES):
            acls |= _grant(who, "TOPIC", f"platform.{p.id}.{topic_type}", "LITERAL", "WRITE", "DESCRIBE")
        for topic_type in ("rejected", *PLATFORM_READS):
            acls |= _grant(who, "TOPIC", f"platform.{p.id}.{topic_type}", "LITERAL", "READ", "DESCRIBE")
        for province in PROVINCE_CODES:
            acls |= _grant(who, "TOPIC", notice_topic(province), "LITERAL", "READ", "DESCRIBE")
        acls |= _grant(who, "TOPIC", PUBLIC_PREFIX, "PREFIXED", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("platform", p.id), "PREFIXED", "READ")
    for o in access.offices:
        who = principal_of(o.user)
        acls |= _grant(who, "TOPIC", office_topic_prefix(o.code), "PREFIXED", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("office", o.name), "PREFIXED", "READ")
    for i in access.insurers:
        who = principal_of(i.user)
        acls |= _grant(who, "TOPIC", insurance_topic_prefix(i.province), "PREFIXED", "READ", "DESCRIBE")
        acls |= _grant(who, "TOPIC", f"{insurance_topic_prefix(i.province)}{CLAIM_STATUS}", "LITERAL",
                       "WRITE", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("insurer", i.name), "PREFIXED", "READ")
    for u in access.units:
        who = principal_of(u.user)
        for topic_type in UNIT_WRITES:
            acls |= _grant(who, "TOPIC", f"gov.units.{u.id}.{topic_type}", "LITERAL", "WRITE", "DESCRIBE")
        for topic_type in UNIT_READS:
            acls |= _grant(who, "TOPIC", f"gov.units.{u.id}.{topic_type}", "LITERAL", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("unit", u.id), "PREFIXED", "READ")
    for kind, readers, prefix in (("regulator", access.regulators, REGULATOR_PREFIX),
                                  ("public", access.public_readers, PUBLIC_PREFIX)):
        for r in readers:
            acls |= _grant(principal_of(r.user), "TOPIC", prefix, "PREFIXED", "READ", "DESCRIBE")
            acls |= _grant(principal_of(r.user), "GROUP", group_prefix(kind, r.name), "PREFIXED", "READ")

    hub = principal_of(access.hub.user)
    app_id = access.hub.app_id
    # Ingest is platform.<id>.<type>: a prefix ACL cannot say "any id, these types", so the hub
    # reads (and writes rejection records into) everything under platform.
    acls |= _grant(hub, "TOPIC", "platform.", "PREFIXED", "READ", "WRITE", "DESCRIBE")
    # app_id: Faust changelog/leader topics "<app_id>-..."; public.: the algorithm register.
    for prefix in ("hub.", "gov.", PUBLIC_PREFIX, app_id):
        acls |= _grant(hub, "TOPIC", prefix, "PREFIXED", "READ", "WRITE", "CREATE", "DESCRIBE")
    for topic in partner_written_topics(access):
        acls.add(AclSpec(hub, "TOPIC", topic, "LITERAL", "WRITE", "DENY"))
    acls |= _grant(hub, "GROUP", group_prefix("hub", app_id), "PREFIXED", "READ")
    acls |= _grant(hub, "CLUSTER", CLUSTER_RESOURCE, "LITERAL", "DESCRIBE", "CREATE", "IDEMPOTENT_WRITE")

    for op in access.operators:
        who = principal_of(op.user)
        acls |= _grant(who, "TOPIC", "*", "LITERAL", "DESCRIBE", "DESCRIBE_CONFIGS")
        acls |= _grant(who, "GROUP", "*", "LITERAL", "DESCRIBE")
        acls |= _grant(who, "CLUSTER", CLUSTER_RESOURCE, "LITERAL", "DESCRIBE", "DESCRIBE_CONFIGS")
        acls |= _grant(who, "GROUP", group_prefix("operator", op.user), "PREFIXED", "READ")
        for prefix in op.read_prefixes:
            acls |= _grant(who, "TOPIC", prefix, "PREFIXED", "READ")
    return acls


# =============================================================================================
# Plan
# =============================================================================================

def protected_principals(access: AccessFile | None = None, extra: Iterable[str] = ()) -> frozenset[str]:
    """``User:<name>`` of the file's super users plus ``extra`` (e.g. the account apply runs as)."""
    names = list(access.super_users if access is not None else ("admin",)) + [e for e in extra if e]
    return frozenset(principal_of(name) for name in names)


def plan(desired: Iterable[AclSpec], current: Iterable[AclSpec], *,
         protected: Iterable[str] = ("User:admin",),
         prune_undeclared: bool = True) -> tuple[set[AclSpec], set[AclSpec]]:
    """``(to_create, to_delete)`` turning ``current`` into ``desired``.

    Managed principals are those appearing in ``desired`` (every declared user has ACLs).
    ``to_delete`` holds the current ACLs not desired whose principal is managed, or -- with
    ``prune_undeclared`` -- any other ``User:`` principal (``User:*`` included); protected
    principals and non-``User:`` principals are never deleted.  Raises ``ValueError`` if
    ``desired`` grants something to a protected principal."""
    desired, current = set(desired), set(current)
    protected = {principal_of(p) for p in protected}
    managed = {acl.principal for acl in desired}
    clash = managed & protected
    if clash:
        raise ValueError(f"protected principal(s) {sorted(clash)} must not be declared in the access file")

    def deletable(acl: AclSpec) -> bool:
        if acl.principal in protected:
            return False
        if acl.principal in managed:
            return True
        return prune_undeclared and acl.principal.startswith("User:")

    return desired - current, {acl for acl in current - desired if deletable(acl)}


# =============================================================================================
# Evaluation (the broker's authorization rules) and the effective matrix
# =============================================================================================

_IMPLIED_BY = {"DESCRIBE": {"READ", "WRITE", "DELETE", "ALTER"}, "DESCRIBE_CONFIGS": {"ALTER_CONFIGS"}}


def _matches(acl: AclSpec, resource_type: str, name: str) -> bool:
    if acl.resource_type != resource_type:
        return False
    if acl.pattern_type == "LITERAL":
        return acl.resource_name in (name, "*")
    if acl.pattern_type == "PREFIXED":
        return name.startswith(acl.resource_name)
    return False


def is_allowed(acls: Iterable[AclSpec], principal: str, resource_type: str, name: str,
               operation: str) -> bool:
    """Would ``StandardAuthorizer`` allow ``principal`` ``operation`` on the resource?

    Hosts are ignored (every binding is taken to match the client's host).  Topic CREATE is also
    allowed by CREATE on the cluster, exactly like the broker's CreateTopics check."""
    principal = principal_of(principal)
    relevant = [a for a in acls if a.principal in (principal, "User:*") and _matches(a, resource_type, name)]
    if any(a.permission == "DENY" and a.operation in (operation, "ALL") for a in relevant):
        return False
    granting = {operation, "ALL"} | _IMPLIED_BY.get(operation, set())
    if any(a.permission == "ALLOW" and a.operation in granting for a in relevant):
        return True
    if resource_type == "TOPIC" and operation == "CREATE":
        return is_allowed(acls, principal, "CLUSTER", CLUSTER_RESOURCE, "CREATE")
    return False


OP_LETTERS = {"READ": "R", "WRITE": "W", "CREATE": "C", "DESCRIBE": "D"}
_OPS_BY_TYPE = {"TOPIC": ("READ", "WRITE", "CREATE", "DESCRIBE"), "GROUP": ("READ", "DESCRIBE"),
                "CLUSTER": ("CREATE", "DESCRIBE")}


@dataclass(frozen=True)
class Family:
    """A row of the matrix: a resource family and the concrete names evaluated for it."""
    label: str
    resource_type: str
    samples: tuple[str, ...]

    @property
    def operations(self) -> tuple[str, ...]:
        return _OPS_BY_TYPE[self.resource_type]


def topic_families(access: AccessFile, extra: Iterable[Family] = ()) -> list[Family]:
    """Matrix rows for ``access``: every declared topic family, then the group prefixes and the cluster."""
    fams = []
    for p in access.platforms:
        fams.append(Family(f"platform.{p.id}.{{{','.join(INGEST_TYPES)}}}", "TOPIC",
                           tuple(f"platform.{p.id}.{t}" for t in INGEST_TYPES)))
        fams.append(Family(f"platform.{p.id}.rejected", "TOPIC", (f"platform.{p.id}.rejected",)))
        fams.append(Family(f"platform.{p.id}.{{{','.join(PLATFORM_WRITES)}}}", "TOPIC",
                           tuple(f"platform.{p.id}.{t}" for t in PLATFORM_WRITES)))
        fams.append(Family(f"platform.{p.id}.{{{','.join(PLATFORM_READS)}}}", "TOPIC",
                           tuple(f"platform.{p.id}.{t}" for t in PLATFORM_READS)))
    for code in sorted({o.code for o in access.offices}):
        fams.append(Family(f"gov.office.{code}.*", "TOPIC", tuple(f"gov.office.{code}.{t}" for t in OFFICE_TYPES)))
    for prov in sorted({i.province for i in access.insurers}):
        fams.append(Family(f"gov.insurance.{prov}.*", "TOPIC",
                           tuple(f"gov.insurance.{prov}.{t}" for t in INSURANCE_TYPES)))
        fams.append(Family(f"gov.insurance.{prov}.{CLAIM_STATUS}", "TOPIC",
                           (f"gov.insurance.{prov}.{CLAIM_STATUS}",)))
    for u in access.units:
        for types in (UNIT_WRITES, UNIT_READS):
            fams.append(Family(f"gov.units.{u.id}.{{{','.join(types)}}}", "TOPIC",
                               tuple(f"gov.units.{u.id}.{t}" for t in types)))
    samples = ("11", "44", "65")  # first, a middle and the last province code
    fams.append(Family("gov.notices.<province>", "TOPIC", tuple(notice_topic(p) for p in samples)))
    fams.append(Family("gov.notices.<province>.status", "TOPIC", tuple(f"{notice_topic(p)}.status" for p in samples)))
    fams.append(Family("gov.notices.webhooks.*", "TOPIC", tuple(
        f"gov.notices.webhooks.{t}" for t in (*(p.id for p in access.platforms[:1]), "receipts", "dlq"))))
    fams.append(Family(f"{REGULATOR_PREFIX}*", "TOPIC", (f"{REGULATOR_PREFIX}algorithm-changes",)))
    fams.append(Family(f"{PUBLIC_PREFIX}*", "TOPIC", (f"{PUBLIC_PREFIX}algorithm-register",)))
    fams.append(Family("hub.*", "TOPIC", HUB_SAMPLE_TOPICS))
    fams.append(Family(f"{access.hub.app_id}-* (Faust internal)", "TOPIC",
                       (f"{access.hub.app_id}-__assignor-__leader",)))
    fams.extend(extra)
    groups = [group_prefix("hub", access.hub.app_id)]
    groups += [group_prefix("platform", p.id) for p in access.platforms]
    groups += [group_prefix("office", o.name) for o in access.offices]
    groups += [group_prefix("insurer", i.name) for i in access.insurers]
    groups += [group_prefix("unit", u.id) for u in access.units]
    groups += [group_prefix("regulator", r.name) for r in access.regulators]
    groups += [group_prefix("public", r.name) for r in access.public_readers]
    groups += [group_prefix("operator", o.user) for o in access.operators]
    fams += [Family(f"group {g}*", "GROUP", (f"{g}x" if g.endswith(".") else f"{g}",)) for g in groups]
    fams.append(Family("cluster", "CLUSTER", (CLUSTER_RESOURCE,)))
    return fams


@dataclass(frozen=True)
class Matrix:
    """``cells[(family label, user)]`` = operations allowed on *every* sample of the family;
    ``partial[(label, user)]`` = operations allowed on some samples only (e.g. a hand-made grant
    on one of a platform's three ingest topics)."""
    users: tuple[str, ...]
    families: tuple[Family, ...]
    cells: Mapping[tuple[str, str], frozenset[str]]
    partial: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    def allowed(self, user: str, label: str) -> frozenset[str]:
        return self.cells[(label, user)]

    def cell(self, user: str, label: str) -> str:
        """``R W C D`` = read/write/create/describe on every topic of the family, lower case =
        on some of them only, ``-`` = nothing."""
        full, some = self.cells[(label, user)], self.partial.get((label, user), frozenset())
        text = "".join(letter if op in full else letter.lower() if op in some else ""
                       for op, letter in OP_LETTERS.items())
        return text or "-"

    def format(self, expected: Matrix | None = None) -> str:
        """A plain-text table: rows = families, columns = users (see :meth:`cell`).
        With ``expected``, cells that differ are marked ``!`` (and show the actual value)."""
        header = ["resource", *self.users]
        rows = []
        for fam in self.families:
            row = [fam.label]
            for user in self.users:
                text = self.cell(user, fam.label)
                if expected is not None and expected.cell(user, fam.label) != text:
                    text += "!"
                row.append(text)
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def effective_matrix(acls: Iterable[AclSpec], access: AccessFile,
                     families: Iterable[Family] | None = None) -> Matrix:
    acls = list(acls)
    fams = tuple(topic_families(access) if families is None else families)
    users = tuple(dict.fromkeys(access.user_names()))
    cells, partial = {}, {}
    for fam in fams:
        for user in users:
            verdicts = {op: [is_allowed(acls, user, fam.resource_type, name, op) for name in fam.samples]
                        for op in fam.operations}
            cells[(fam.label, user)] = frozenset(op for op, v in verdicts.items() if all(v))
            partial[(fam.label, user)] = frozenset(op for op, v in verdicts.items() if any(v) and not all(v))
    return Matrix(users, fams, cells, partial)
