"""The access file: principals declared by kind, parsed and checked (pure, no Kafka).

:func:`load_access` reads ``deploy/access.yaml`` into an :class:`AccessFile` (platforms,
offices, insurers, handling units, regulators, public readers, the hub, operators, super users)
and checks every declared unit against ``deploy/units.yaml``; :func:`parse_access` does the same
for already-parsed YAML (optionally given the known unit ids). Invalid files raise
:class:`AccessError` naming the entry. Everything else
in :mod:`gigbridge.access` is derived from this model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gigbridge.paths import ACCESS_FILE, UNITS_FILE

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ACCESS_FILE = ACCESS_FILE  # the packaged deploy/access.yaml (gigbridge.paths)
DEFAULT_UNITS_FILE = UNITS_FILE    # the packaged deploy/units.yaml: the handling units that exist

#: ``GIGBRIDGE_ACCESS_SECRET_<USER>``: user upper-cased, every other character than A-Z/0-9 -> ``_``.
SECRET_ENV_PREFIX = "GIGBRIDGE_ACCESS_SECRET_"

#: Division-code length -> level name.  The finest level (township) gets a trailing dot.
OFFICE_LEVELS = {2: "province", 4: "city", 6: "county", 9: "township"}

PLATFORM_ID_RE = r"^[a-z][a-z0-9-]{1,31}$"
NAME_RE = r"^[a-z][a-z0-9-]{1,63}$"
USER_RE = r"^[a-z0-9][a-z0-9._-]{0,63}$"
APP_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: A handling unit's id, a topic-name segment (the same rule as streams.core.cases.units.UNIT_ID_RE).
UNIT_ID_RE = r"^[a-z0-9][a-z0-9-]{2,47}$"
READ_PREFIX_RE = r"^(hub|gov|platform)\.[A-Za-z0-9._-]*$"


def secret_env_var(user: str) -> str:
    """The environment variable of ``user``'s password (two users may not share one)."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", user.upper())


class AccessError(Exception):
    """Invalid access file, missing secrets, or a broker refusing an ACL/credential change."""


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


class Unit(_Model):
    """A handling unit of concern cases (its ``id`` is declared in ``deploy/units.yaml``): writes
    ``gov.units.<id>.case-events|incident-acks``, reads ``gov.units.<id>.case-updates|case-rejections``."""
    id: str = Field(pattern=UNIT_ID_RE)
    user: str = Field(pattern=USER_RE)


class Regulator(_Model):
    """A regulator (e.g. of platform algorithms): reads ``gov.regulator.*``."""
    name: str = Field(pattern=NAME_RE)
    user: str = Field(pattern=USER_RE)


class PublicReader(_Model):
    """A reader of the public feeds (``public.*``, e.g. the algorithm register's website)."""
    name: str = Field(pattern=NAME_RE)
    user: str = Field(pattern=USER_RE)


class Hub(_Model):
    """The hub itself.  ``app_id`` must equal the worker's ``GIGBRIDGE_APP_ID`` (Faust app id)."""
    user: str = Field(pattern=USER_RE)
    app_id: str = Field("gigbridge-hub", pattern=APP_ID_RE)


class Operator(_Model):
    """A human/tooling operator: describes every topic, group and the cluster (lag, sizes, DLQ
    depth, configs), reads no record unless ``read_prefixes`` says so, writes nothing."""
    user: str = Field(pattern=USER_RE)
    #: Extra topic prefixes this operator may READ, e.g. ``gov.office.3101`` (must be declared here;
    #: never one overlapping :attr:`AccessFile.operator_never_reads`).
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
    units: tuple[Unit, ...] = ()
    regulators: tuple[Regulator, ...] = ()
    public_readers: tuple[PublicReader, ...] = ()
    operators: tuple[Operator, ...] = ()
    #: Topic prefixes whose records hold more than deploy/privacy.yaml's monitoring policy allows
    #: (the platforms' own worker/order refs, full-precision coordinates, original bytes): no
    #: operator may read them, and a ``read_prefixes`` entry overlapping one is an error.
    operator_never_reads: tuple[str, ...] = ("hub.", "platform.", "gov.insurance.")

    def users(self) -> list[tuple[str, str]]:
        """``(kind, user)`` of every declared principal, in file order (hub first)."""
        return ([("hub", self.hub.user)]
                + [("platform", p.user) for p in self.platforms]
                + [("office", o.user) for o in self.offices]
                + [("insurer", i.user) for i in self.insurers]
                + [("unit", u.user) for u in self.units]
                + [("regulator", r.user) for r in self.regulators]
                + [("public", r.user) for r in self.public_readers]
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
        dupes("unit id", (u.id for u in self.units))
        dupes("regulator name", (r.name for r in self.regulators))
        dupes("public reader name", (r.name for r in self.public_readers))
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
        for op in self.operators:
            for prefix in op.read_prefixes:
                for never in self.operator_never_reads:
                    if prefix.startswith(never) or never.startswith(prefix):
                        problems.append(f"operator {op.user!r} may not read {prefix!r}: it overlaps "
                                        f"{never!r} (operator_never_reads)")
        if problems:
            raise ValueError("; ".join(dict.fromkeys(problems)))
        return self


def parse_access(data: Any, source: str = "<access>",
                 unit_exists: Callable[[str], bool] | None = None) -> AccessFile:
    """Validate already-parsed YAML/JSON data; raises :class:`AccessError` with every problem.

    With ``unit_exists`` (see :func:`units_of`), a declared unit it refuses is an error: the case
    routing would never send that unit anything."""
    if not isinstance(data, dict):
        raise AccessError(f"{source}: expected a mapping at the top level")
    try:
        access = AccessFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]) or "(file)"
            lines.append(f"  {loc}: {err['msg'].removeprefix('Value error, ')}")
        raise AccessError(f"{source}: invalid access file:\n" + "\n".join(lines)) from None
    if unit_exists is not None:
        unknown = [f"  units.{n}.id: {u.id!r} is not a unit of the units file"
                   for n, u in enumerate(access.units) if not unit_exists(u.id)]
        if unknown:
            raise AccessError(f"{source}: invalid access file:\n" + "\n".join(unknown))
    return access


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccessError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccessError(f"{path}: not valid YAML: {exc}") from None


def units_of(path: str | os.PathLike[str] = DEFAULT_UNITS_FILE) -> Callable[[str], bool]:
    """Whether a unit id exists for the case routing of ``deploy/units.yaml`` (or another units
    file): a listed unit, or the synthetic ``<county>-gov`` of an unlisted county."""
    from streams.loaders.cases import load_units  # the one reader of units files; imports streams

    try:
        book = load_units(Path(path))
    except OSError as exc:
        raise AccessError(f"cannot read units file {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - yaml or the units' own validation
        raise AccessError(f"{path}: invalid units file: {exc}") from None
    return lambda unit_id: book.get(unit_id) is not None


def load_access(path: str | os.PathLike[str] = DEFAULT_ACCESS_FILE,
                units_file: str | os.PathLike[str] | None = DEFAULT_UNITS_FILE) -> AccessFile:
    """Read and validate ``deploy/access.yaml`` (or another file); every declared unit must be in
    ``units_file`` (read only when the file declares units; ``None`` skips the check)."""
    path = Path(path)
    data = _read_yaml(path, "access file")
    declares_units = isinstance(data, dict) and bool(data.get("units"))
    exists = units_of(units_file) if declares_units and units_file is not None else None
    return parse_access(data, str(path), unit_exists=exists)
