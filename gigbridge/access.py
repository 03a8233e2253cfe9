"""Least-privilege Kafka access for every gigbridge principal, declared in one file.

``deploy/access.yaml`` lists the principals by kind (platforms, offices, insurers, the hub,
operators); everything else is derived here.  See ``docs/access.md`` for the full matrix.

Pure core (no I/O besides reading the file, no Kafka):

* :func:`load_access` -- parse and validate the file into an :class:`AccessFile`.
* :func:`desired_acls` -- the complete least-privilege ACL set (:class:`AclSpec`) for the file.
* :func:`plan` -- diff desired against current ACLs: what to create, what to delete.
* :func:`resolve_secrets` -- each user's SCRAM password from env / secrets dir / ``--dev`` default.
* :func:`is_allowed`, :func:`effective_matrix` -- evaluate ACLs with the broker's rules
  (``StandardAuthorizer``: DENY wins, ``ALL`` matches every operation, READ/WRITE/DELETE/ALTER
  imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, ``User:*`` matches everyone, LITERAL
  ``*`` matches every name, PREFIXED matches by ``str.startswith``; cluster CREATE authorizes
  creating any topic).

Thin Kafka edge (kafka-python ``KafkaAdminClient``, must run as a super user):

* :func:`apply` -- upsert SCRAM-SHA-512 credentials, create missing ACLs, delete undeclared ones.
* :func:`check` -- read the broker's ACLs: effective matrix + drift, without changing anything.

Deletion scope (:func:`plan`).  An ACL on the broker that the file does not want is deleted when

1. its principal is one the file declares (``User:<user>`` of any kind), or
2. ``prune_undeclared`` is on (the default) and its principal is any other ``User:`` principal,
   including the wildcard ``User:*`` -- users removed from the file lose all their grants;

but never when the principal is *protected*: the file's ``super_users`` (default ``[admin]``,
mirror the broker's ``super.users`` there) and the account ``apply``/``check`` connect as.
ACLs of non-``User:`` principal types (custom principal builders) are never touched.  SCRAM
credentials are only created/updated, never deleted (a user dropped from the file keeps its
password but has no ACL left, so it can authenticate and do nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gigbridge.paths import ACCESS_FILE

if TYPE_CHECKING:  # the pure core does not need kafka-python at import time
    from kafka.admin import KafkaAdminClient

__all__ = [
    "AccessError",
    "AccessFile",
    "AclSpec",
    "ApplySummary",
    "CheckResult",
    "DEFAULT_ACCESS_FILE",
    "DEV_SECRET_TEMPLATE",
    "Family",
    "Hub",
    "Insurer",
    "Matrix",
    "MissingSecretsError",
    "Office",
    "Operator",
    "Platform",
    "SECRETS_DIR_ENV",
    "SECRET_ENV_PREFIX",
    "Secrets",
    "add_cli",
    "apply",
    "check",
    "desired_acls",
    "dev_secret",
    "effective_matrix",
    "group_prefix",
    "is_allowed",
    "load_access",
    "office_topic_prefix",
    "parse_access",
    "plan",
    "protected_principals",
    "resolve_secrets",
    "secret_env_var",
    "topic_families",
]

DEFAULT_ACCESS_FILE = ACCESS_FILE  # the packaged deploy/access.yaml

#: ``GIGBRIDGE_ACCESS_SECRET_<USER>``: user upper-cased, every other character than A-Z/0-9 -> ``_``.
SECRET_ENV_PREFIX = "GIGBRIDGE_ACCESS_SECRET_"
#: Directory with one file per user (``<dir>/<user>``, content = password; a trailing newline is ignored).
SECRETS_DIR_ENV = "GIGBRIDGE_ACCESS_SECRETS_DIR"
#: Only used with ``--dev``: deterministic, public, never for a real deployment.
DEV_SECRET_TEMPLATE = "dev-{user}-secret"
SCRAM_MECHANISM = "SCRAM-SHA-512"
CLUSTER_RESOURCE = "kafka-cluster"

# Topic names (final; tests/gigbridge/test_access.py checks them against streams.topics).
INGEST_TYPES = ("sites", "headcounts", "incidents")
OFFICE_TYPES = ("sites", "headcounts", "incidents")
INSURANCE_TYPES = ("incidents", "receipts", "dlq")
HUB_SAMPLE_TOPICS = ("hub.validated.sites", "hub.validated.headcounts", "hub.validated.incidents", "hub.dlq")

#: Division-code length -> level name.  The finest level (township) gets a trailing dot.
OFFICE_LEVELS = {2: "province", 4: "city", 6: "county", 9: "township"}

PLATFORM_ID_RE = r"^[a-z][a-z0-9-]{1,31}$"
NAME_RE = r"^[a-z][a-z0-9-]{1,63}$"
USER_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
APP_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
READ_PREFIX_RE = r"^(hub|gov|platform)\.[A-Za-z0-9._-]*$"


class AccessError(Exception):
    """Invalid access file, missing secrets, or a broker refusing an ACL/credential change."""


class MissingSecretsError(AccessError):
    def __init__(self, users: list[str], secrets_dir: str | None) -> None:
        self.users = users
        hints = ", ".join(f"{secret_env_var(u)}" for u in users)
        where = f" or a file {secrets_dir}/<user>" if secrets_dir else f" or a file in ${SECRETS_DIR_ENV}"
        super().__init__(
            f"no secret for {len(users)} user(s): {', '.join(users)}; set {hints}{where} "
            f"(or pass --dev for the public development defaults)")


# =============================================================================================
# The file
# =============================================================================================

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _quoted_digits(value: Any, lengths: Collection[int], what: str) -> str:
    if not isinstance(value, str):
        # YAML reads an unquoted 310101 as int (and 0101 as octal!): insist on a string.
        raise ValueError(f"{what} must be a quoted string of digits, e.g. \"{value}\"")
    if not (value.isascii() and value.isdigit() and len(value) in lengths):
        raise ValueError(f"{what} {value!r} must be {' / '.join(map(str, sorted(lengths)))} digits")
    return value


class Platform(_Model):
    """A gig platform: writes ``platform.<id>.sites|headcounts|incidents``, reads ``platform.<id>.rejected``."""
    id: str = Field(pattern=PLATFORM_ID_RE)
    user: str = Field(pattern=USER_RE)


class Office(_Model):
    """A government office: reads ``gov.office.<code>...`` (its whole subtree, see :func:`office_topic_prefix`)."""
    name: str = Field(pattern=NAME_RE)
    code: str
    user: str = Field(pattern=USER_RE)

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> str:
        return _quoted_digits(value, OFFICE_LEVELS, "office code")

    @property
    def level(self) -> str:
        return OFFICE_LEVELS[len(self.code)]


class Insurer(_Model):
    """A provincial occupational-injury insurer: reads ``gov.insurance.<province>.``."""
    name: str = Field(pattern=NAME_RE)
    province: str
    user: str = Field(pattern=USER_RE)

    @field_validator("province", mode="before")
    @classmethod
    def _province(cls, value: Any) -> str:
        return _quoted_digits(value, (2,), "insurer province")


class Hub(_Model):
    """The hub itself.  ``app_id`` must equal the worker's ``GIGBRIDGE_APP_ID`` (Faust app id)."""
    user: str = Field(pattern=USER_RE)
    app_id: str = Field("gigbridge-hub", pattern=APP_ID_RE)


class Operator(_Model):
    """A human/tooling operator: describes everything, reads ``hub.`` (DLQ), writes nothing."""
    user: str = Field(pattern=USER_RE)
    #: Extra topic prefixes this operator may READ, e.g. ``gov.office.3101`` (must be declared here).
    read_prefixes: tuple[str, ...] = ()

    @field_validator("read_prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not re.fullmatch(READ_PREFIX_RE, prefix):
                raise ValueError(f"read prefix {prefix!r} must start with hub., gov. or platform.")
        return value


class AccessFile(_Model):
    version: Literal[1] = 1
    #: Principals apply/check never touch (mirror the broker's ``super.users``).
    super_users: tuple[str, ...] = ("admin",)
    hub: Hub
    platforms: tuple[Platform, ...] = ()
    offices: tuple[Office, ...] = ()
    insurers: tuple[Insurer, ...] = ()
    operators: tuple[Operator, ...] = ()

    def users(self) -> list[tuple[str, str]]:
        """``(kind, user)`` of every declared principal, in file order (hub first)."""
        return ([("hub", self.hub.user)]
                + [("platform", p.user) for p in self.platforms]
                + [("office", o.user) for o in self.offices]
                + [("insurer", i.user) for i in self.insurers]
                + [("operator", o.user) for o in self.operators])

    def user_names(self) -> list[str]:
        return [user for _, user in self.users()]

    @model_validator(mode="after")
    def _unique(self) -> AccessFile:
        problems: list[str] = []

        def dupes(what: str, values: Iterable[str]) -> None:
            seen: set[str] = set()
            for value in values:
                if value in seen:
                    problems.append(f"duplicate {what} {value!r}")
                seen.add(value)

        dupes("user", self.user_names())
        dupes("platform id", (p.id for p in self.platforms))
        dupes("office name", (o.name for o in self.offices))
        dupes("insurer name", (i.name for i in self.insurers))
        by_var: dict[str, str] = {}
        for user in dict.fromkeys(self.user_names()):
            other = by_var.setdefault(secret_env_var(user), user)
            if other != user:
                problems.append(f"users {other!r} and {user!r} would share the secret variable "
                                f"{secret_env_var(user)}")
        for user in self.user_names():
            if user in self.super_users:
                problems.append(f"user {user!r} is listed in super_users; super users need no ACLs "
                                "and are never managed by this file")
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


def parse_access(data: Any, source: str = "<access>") -> AccessFile:
    """Validate already-parsed YAML/JSON data; raises :class:`AccessError` with every problem."""
    if not isinstance(data, dict):
        raise AccessError(f"{source}: expected a mapping at the top level")
    try:
        return AccessFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]) or "(file)"
            lines.append(f"  {loc}: {err['msg'].removeprefix('Value error, ')}")
        raise AccessError(f"{source}: invalid access file:\n" + "\n".join(lines)) from None


def load_access(path: str | os.PathLike[str] = DEFAULT_ACCESS_FILE) -> AccessFile:
    """Read and validate ``deploy/access.yaml`` (or another file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"cannot read access file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccessError(f"{path}: not valid YAML: {exc}") from None
    return parse_access(data, str(path))


# =============================================================================================
# Desired ACLs
# =============================================================================================

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


def group_prefix(kind: str, ident: str) -> str:
    """Consumer-group id prefix a principal may use: ``office.<name>.``, ``insurer.<name>.``,
    ``platform.<id>.``, ``operator.<user>.``; the hub uses its app id (Faust's group id)."""
    if kind == "hub":
        return ident
    return f"{kind}.{ident}."


def _grant(principal: str, resource_type: str, name: str, pattern: str, *ops: str) -> set[AclSpec]:
    return {AclSpec(principal, resource_type, name, pattern, op) for op in ops}


def desired_acls(access: AccessFile) -> set[AclSpec]:
    """The complete least-privilege ACL set for ``access`` (only ALLOW bindings, host ``*``).

    READ/WRITE on topics are always accompanied by an explicit DESCRIBE (implied by the broker
    anyway, but it makes ``kafka-acls --list`` self-explanatory)."""
    acls: set[AclSpec] = set()
    for p in access.platforms:
        who = principal_of(p.user)
        for event_type in INGEST_TYPES:
            acls |= _grant(who, "TOPIC", f"platform.{p.id}.{event_type}", "LITERAL", "WRITE", "DESCRIBE")
        acls |= _grant(who, "TOPIC", f"platform.{p.id}.rejected", "LITERAL", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("platform", p.id), "PREFIXED", "READ")
    for o in access.offices:
        who = principal_of(o.user)
        acls |= _grant(who, "TOPIC", office_topic_prefix(o.code), "PREFIXED", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("office", o.name), "PREFIXED", "READ")
    for i in access.insurers:
        who = principal_of(i.user)
        acls |= _grant(who, "TOPIC", insurance_topic_prefix(i.province), "PREFIXED", "READ", "DESCRIBE")
        acls |= _grant(who, "GROUP", group_prefix("insurer", i.name), "PREFIXED", "READ")

    hub = principal_of(access.hub.user)
    app_id = access.hub.app_id
    # Ingest is platform.<id>.<type>: a prefix ACL cannot say "any id, these types", so the hub
    # reads (and writes rejection records into) everything under platform.
    acls |= _grant(hub, "TOPIC", "platform.", "PREFIXED", "READ", "WRITE", "DESCRIBE")
    for prefix in ("hub.", "gov.", app_id):  # app_id: Faust changelog/leader topics "<app_id>-..."
        acls |= _grant(hub, "TOPIC", prefix, "PREFIXED", "READ", "WRITE", "CREATE", "DESCRIBE")
    acls |= _grant(hub, "GROUP", group_prefix("hub", app_id), "PREFIXED", "READ")
    acls |= _grant(hub, "CLUSTER", CLUSTER_RESOURCE, "LITERAL", "DESCRIBE", "CREATE", "IDEMPOTENT_WRITE")

    for op in access.operators:
        who = principal_of(op.user)
        acls |= _grant(who, "TOPIC", "*", "LITERAL", "DESCRIBE", "DESCRIBE_CONFIGS")
        acls |= _grant(who, "GROUP", "*", "LITERAL", "DESCRIBE")
        acls |= _grant(who, "CLUSTER", CLUSTER_RESOURCE, "LITERAL", "DESCRIBE", "DESCRIBE_CONFIGS")
        acls |= _grant(who, "TOPIC", "hub.", "PREFIXED", "READ")
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
# Secrets
# =============================================================================================

def secret_env_var(user: str) -> str:
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", user.upper())


def dev_secret(user: str) -> str:
    return DEV_SECRET_TEMPLATE.format(user=user)


class Secrets(dict):
    """``user -> password``; ``sources[user]`` is ``"env"``, ``"file"`` or ``"dev"``."""

    def __init__(self, values: Mapping[str, str], sources: Mapping[str, str]) -> None:
        super().__init__(values)
        self.sources = dict(sources)

    def __repr__(self) -> str:  # never print passwords
        return f"Secrets({self.sources!r})"


def resolve_secrets(access: AccessFile, *, env: Mapping[str, str] | None = None,
                    secrets_dir: str | os.PathLike[str] | None = None, dev: bool = False) -> Secrets:
    """Each declared user's password, first match wins:

    1. env ``GIGBRIDGE_ACCESS_SECRET_<USER>`` (see :func:`secret_env_var`; empty = unset),
    2. the file ``<secrets_dir>/<user>`` (``secrets_dir`` defaults to env ``GIGBRIDGE_ACCESS_SECRETS_DIR``;
       one trailing newline is stripped; an empty file is an error),
    3. only with ``dev=True``: :func:`dev_secret` (``dev-<user>-secret``).

    Raises :class:`MissingSecretsError` naming every user without a secret."""
    env = os.environ if env is None else env
    if secrets_dir is None:
        secrets_dir = env.get(SECRETS_DIR_ENV) or None
    directory = Path(secrets_dir) if secrets_dir else None
    if directory is not None and not directory.is_dir():
        raise AccessError(f"secrets directory {directory} ({SECRETS_DIR_ENV}) does not exist")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    for user in dict.fromkeys(access.user_names()):
        value = env.get(secret_env_var(user))
        source = "env"
        if not value and directory is not None and (directory / user).is_file():
            value = (directory / user).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
            source = "file"
            if not value:
                raise AccessError(f"secret file {directory / user} is empty")
        if not value and dev:
            value, source = dev_secret(user), "dev"
        if not value:
            missing.append(user)
            continue
        values[user], sources[user] = value, source
    if missing:
        raise MissingSecretsError(missing, str(directory) if directory else None)
    return Secrets(values, sources)


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
    for code in sorted({o.code for o in access.offices}):
        fams.append(Family(f"gov.office.{code}.*", "TOPIC", tuple(f"gov.office.{code}.{t}" for t in OFFICE_TYPES)))
    for prov in sorted({i.province for i in access.insurers}):
        fams.append(Family(f"gov.insurance.{prov}.*", "TOPIC",
                           tuple(f"gov.insurance.{prov}.{t}" for t in INSURANCE_TYPES)))
    fams.append(Family("hub.*", "TOPIC", HUB_SAMPLE_TOPICS))
    fams.append(Family(f"{access.hub.app_id}-* (Faust internal)", "TOPIC",
                       (f"{access.hub.app_id}-__assignor-__leader",)))
    fams.extend(extra)
    groups = [group_prefix("hub", access.hub.app_id)]
    groups += [group_prefix("platform", p.id) for p in access.platforms]
    groups += [group_prefix("office", o.name) for o in access.offices]
    groups += [group_prefix("insurer", i.name) for i in access.insurers]
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


# =============================================================================================
# Kafka edge
# =============================================================================================

def _to_kafka(spec: AclSpec):
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(spec.principal, spec.host, ACLOperation[spec.operation], ACLPermissionType[spec.permission],
               ResourcePattern(ResourceType[spec.resource_type], spec.resource_name,
                               ACLResourcePatternType[spec.pattern_type]))


def _from_kafka(acl) -> AclSpec:
    pattern = acl.resource_pattern
    return AclSpec(acl.principal, pattern.resource_type.name, pattern.resource_name, pattern.pattern_type.name,
                   acl.operation.name, acl.permission_type.name, acl.host)


def current_acls(admin: KafkaAdminClient) -> set[AclSpec]:
    """Every ACL binding on the cluster (needs DESCRIBE on the cluster, i.e. a super user)."""
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePatternFilter, ResourceType

    everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                           ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, _ = admin.describe_acls(everything)
    return {_from_kafka(acl) for acl in acls}


def scram_users(admin: KafkaAdminClient, users: Iterable[str] | None = None) -> set[str]:
    """Which of ``users`` (all users if ``None``) have a SCRAM-SHA-512 credential."""
    from kafka.admin import ScramMechanism

    users = None if users is None else list(dict.fromkeys(users))
    if users == []:
        return set()
    described = admin.describe_user_scram_credentials(users)
    return {user for user, info in described.items()
            if not info["error"] and any(ci["mechanism"] == ScramMechanism.SCRAM_SHA_512
                                         for ci in info["credential_infos"])}


@dataclass(frozen=True)
class ApplySummary:
    users_created: tuple[str, ...]
    users_updated: tuple[str, ...]   # credential re-set (same or rotated password; the broker cannot tell)
    acls_created: tuple[AclSpec, ...]
    acls_deleted: tuple[AclSpec, ...]
    dry_run: bool = False
    secret_sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.users_created or self.acls_created or self.acls_deleted)

    def format(self) -> str:
        verb = "would " if self.dry_run else ""
        sources = ", ".join(f"{n} from {s}" for s, n in sorted(_count(self.secret_sources.values()).items()))
        out = [f"{'[dry run] ' if self.dry_run else ''}SCRAM-SHA-512 users: {verb}create "
               f"{len(self.users_created)}, {verb}update {len(self.users_updated)}"
               + (f" (secrets: {sources})" if sources else "")]
        out += [f"  + user {u}" for u in self.users_created]
        out.append(f"ACLs: {verb}create {len(self.acls_created)}, {verb}delete {len(self.acls_deleted)}")
        out += [f"  + {acl}" for acl in self.acls_created]
        out += [f"  - {acl}" for acl in self.acls_deleted]
        return "\n".join(out)


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def apply(admin: KafkaAdminClient, access: AccessFile, secrets: Mapping[str, str], *,
          dry_run: bool = False, prune_undeclared: bool = True,
          protected: Iterable[str] = ()) -> ApplySummary:
    """Make the broker match ``access``: upsert every declared user's SCRAM-SHA-512 credential,
    create the missing ACLs, then delete the ACLs :func:`plan` marks (see the module docstring).

    ``protected`` adds principals to the file's ``super_users`` (pass the account ``admin``
    connects as).  Idempotent: a second run creates and deletes no ACL and creates no user (the
    credentials are re-set, because the broker cannot reveal whether a password is current).
    Raises :class:`AccessError` if a secret is missing or the broker refuses a change."""
    from kafka.admin import UserScramCredentialUpsertion

    users = list(dict.fromkeys(access.user_names()))
    missing = [u for u in users if not secrets.get(u)]
    if missing:
        raise MissingSecretsError(missing, None)
    guard = protected_principals(access, protected)
    current = current_acls(admin)
    try:
        to_create, to_delete = plan(desired_acls(access), current, protected=guard,
                                    prune_undeclared=prune_undeclared)
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    existing = scram_users(admin, users)
    summary = ApplySummary(
        users_created=tuple(u for u in users if u not in existing),
        users_updated=tuple(u for u in users if u in existing),
        acls_created=tuple(sorted(to_create)), acls_deleted=tuple(sorted(to_delete)),
        dry_run=dry_run, secret_sources=dict(getattr(secrets, "sources", {})))
    if dry_run:
        return summary

    result = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(u, SCRAM_MECHANISM, secrets[u]) for u in users])
    failed = {u: err for u, err in result.items() if err}
    if failed:
        raise AccessError(f"broker refused SCRAM credentials: {failed}")
    if summary.acls_created:
        created = admin.create_acls([_to_kafka(a) for a in summary.acls_created])
        if created["failed"]:
            errors = sorted({getattr(e, "__name__", str(e)) for e in created["failed"]})
            raise AccessError(f"broker refused {len(created['failed'])} of {len(summary.acls_created)} "
                              f"ACL(s): {', '.join(errors)}")
    if summary.acls_deleted:
        # A concrete ACL used as a filter (exact pattern type, op, permission, host) matches only itself.
        # (kafka-python's ACL is an ACLFilter subclass.)
        results = admin.delete_acls([_to_kafka(a) for a in summary.acls_deleted])
        errors = sorted({err.__name__ for _, _, err in results if getattr(err, "errno", 0)})
        if errors:
            raise AccessError(f"broker refused to delete ACL(s): {', '.join(errors)}")
    return summary


@dataclass(frozen=True)
class CheckResult:
    matrix: Matrix                      # what the broker's ACLs allow
    expected: Matrix                    # what the file's ACLs would allow
    missing: tuple[AclSpec, ...]        # desired, not on the broker (apply would create)
    extra: tuple[AclSpec, ...]          # on the broker, apply would delete
    missing_users: tuple[str, ...]      # declared users without a SCRAM-SHA-512 credential
    undeclared_users: tuple[str, ...] = ()  # SCRAM users neither declared nor protected (informational)

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.missing_users)

    def format(self) -> str:
        out = ["Effective access (R read, W write, C create, D describe; lower case = on some of the "
               "family's topics only; ! = differs from the file):",
               self.matrix.format(self.expected), ""]
        if not self.drift:
            out.append("No drift: the broker matches the access file.")
        else:
            out.append(f"DRIFT: {len(self.missing)} missing ACL(s), {len(self.extra)} extra ACL(s), "
                       f"{len(self.missing_users)} missing user(s)")
            out += [f"  missing user {u}" for u in self.missing_users]
            out += [f"  missing {acl}" for acl in self.missing]
            out += [f"  extra   {acl}" for acl in self.extra]
        if self.undeclared_users:
            out.append(f"note: {len(self.undeclared_users)} SCRAM user(s) not in the file (their credentials "
                       f"are left alone; apply prunes their ACLs unless --keep-undeclared): "
                       f"{', '.join(self.undeclared_users)}")
        return "\n".join(out)


def check(admin: KafkaAdminClient, access: AccessFile, *, prune_undeclared: bool = True,
          protected: Iterable[str] = (), families: Iterable[Family] | None = None) -> CheckResult:
    """Compare the broker with ``access`` without changing anything."""
    guard = protected_principals(access, protected)
    current = current_acls(admin)
    desired = desired_acls(access)
    try:
        missing, extra = plan(desired, current, protected=guard, prune_undeclared=prune_undeclared)
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    users = list(dict.fromkeys(access.user_names()))
    all_users = scram_users(admin, None)
    fams = list(topic_families(access) if families is None else families)
    return CheckResult(
        matrix=effective_matrix(current, access, fams),
        expected=effective_matrix(desired, access, fams),
        missing=tuple(sorted(missing)), extra=tuple(sorted(extra)),
        missing_users=tuple(u for u in users if u not in all_users),
        undeclared_users=tuple(sorted(u for u in all_users
                                      if u not in users and principal_of(u) not in guard)))


def add_cli(subparsers) -> None:
    """Register ``gigbridge access apply|check`` on the main parser's subparsers (see access_cli)."""
    from gigbridge.access_cli import add_cli as _add_cli

    _add_cli(subparsers)
