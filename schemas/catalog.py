"""Contract catalog: versioned Avro contracts with stable, explicit schema ids.

The catalog (``schemas/catalog.yaml``) lists every contract, the topics it is used
on and its versions, each with a hand-written schema id that is never reused.  The
schema of version N of contract C is ``avro/<C>/v<N>.avsc`` next to the catalog.

Everything is pure (no Kafka, no registry): ``Catalog.load()`` reads the files,
validates the catalog and parses every schema exactly once.  Hot-path users
(``schemas.wire``) only do dict lookups afterwards.

    >>> cat = default_catalog()
    >>> cat.by_event_type("sites").latest.schema_id
    1
    >>> cat.subject_for_topic("platform.swiftdash.sites")[0]
    'platform.swiftdash.sites-value'
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import fastavro
import yaml
from fastavro.schema import to_parsing_canonical_form

from .errors import CatalogError
from .shape import Checker, compile_checker
from .topics import TopicMatch, TopicMatcher, compile_topic_pattern

__all__ = [
    "CATALOG_FILE",
    "COMPATIBILITY_MODES",
    "Catalog",
    "CatalogError",
    "Contract",
    "SchemaVersion",
    "SCHEMAS_DIR",
    "TopicMatch",
    "default_catalog",
    "schema_path",
    "strip_logical_types",
]

SCHEMAS_DIR = Path(__file__).resolve().parent
CATALOG_FILE = "catalog.yaml"
AVRO_DIR = "avro"

MAX_SCHEMA_ID = 2**31 - 1  # 4-byte big-endian (signed, as in Confluent's format)
COMPATIBILITY_MODES = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
DEFAULT_COMPATIBILITY = "BACKWARD_TRANSITIVE"

_CONTRACT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def schema_path(root: Path, contract: str, version: int) -> Path:
    """Conventional location of a contract version's schema file."""
    return root / AVRO_DIR / contract / f"v{version}.avsc"


def strip_logical_types(schema: Any) -> Any:
    """Deep copy of a raw schema without ``logicalType`` annotations.

    Used for decoding: fastavro converts logical types based on the WRITER schema
    (a reader schema without them does not help), so both sides are stripped and
    decoded records hold the underlying Avro values (int epoch millis for
    ``timestamp-millis``).  The binary encoding is unaffected by logical types.
    """
    if isinstance(schema, list):
        return [strip_logical_types(s) for s in schema]
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    return schema


def _full_name(schema: Mapping[str, Any]) -> str:
    name = schema.get("name", "")
    if "." in name:
        return name
    ns = schema.get("namespace")
    return f"{ns}.{name}" if ns else name


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a contract. Parsed once at catalog load; treat as immutable."""

    contract: str
    version: int
    schema_id: int
    schema: dict = field(compare=False, repr=False)  # raw JSON as in the .avsc file
    parsed: Any = field(compare=False, repr=False)  # fastavro.parse_schema(schema), for writing
    canonical: str = field(repr=False)  # Avro Parsing Canonical Form
    path: Path = field(compare=False)
    # fastavro-parsed schema with logical types stripped, used for reading (see wire.decode)
    read_parsed: Any = field(compare=False, repr=False, default=None)
    # compiled strict shape checker (schemas.shape), used by wire.encode/wire.check
    checker: Checker | None = field(compare=False, repr=False, default=None)

    @property
    def full_name(self) -> str:
        return _full_name(self.schema)

    @property
    def header(self) -> bytes:
        """The 5-byte Confluent wire-format header for this version."""
        return b"\x00" + self.schema_id.to_bytes(4, "big")


@dataclass(frozen=True)
class Contract:
    name: str
    full_name: str
    event_type: str | None
    topics: tuple[str, ...]
    versions: tuple[SchemaVersion, ...]
    compatibility: str = DEFAULT_COMPATIBILITY

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def version(self, number: int) -> SchemaVersion:
        if 1 <= number <= len(self.versions):
            return self.versions[number - 1]
        raise KeyError(f"contract {self.name!r} has no version {number}")


class Catalog:
    """All contracts and their versions. Build with :meth:`load`."""

    def __init__(self, contracts: tuple[Contract, ...], root: Path | None = None):
        self.root = root
        self._contracts = tuple(contracts)
        self._by_name: dict[str, Contract] = {}
        self._by_event_type: dict[str, Contract] = {}
        self._by_full_name: dict[str, Contract] = {}
        self._by_id: dict[int, SchemaVersion] = {}
        for c in self._contracts:
            if c.name in self._by_name:
                raise CatalogError(f"duplicate contract name {c.name!r}")
            self._by_name[c.name] = c
            if c.full_name in self._by_full_name:
                raise CatalogError(
                    f"contracts {self._by_full_name[c.full_name].name!r} and {c.name!r} "
                    f"share the Avro full name {c.full_name!r}"
                )
            self._by_full_name[c.full_name] = c
            if c.event_type is not None:
                if c.event_type in self._by_event_type:
                    raise CatalogError(
                        f"event_type {c.event_type!r} used by both "
                        f"{self._by_event_type[c.event_type].name!r} and {c.name!r}"
                    )
                self._by_event_type[c.event_type] = c
            for v in c.versions:
                other = self._by_id.get(v.schema_id)
                if other is not None:
                    raise CatalogError(
                        f"schema id {v.schema_id} used twice: {other.contract} v{other.version} "
                        f"and {v.contract} v{v.version} (ids are never reused)"
                    )
                self._by_id[v.schema_id] = v
        self._topics = TopicMatcher(self._contracts)

    # -- construction -------------------------------------------------------------

    @classmethod
    def load(cls, root: Path | str | None = None) -> "Catalog":
        """Load ``<root>/catalog.yaml`` and ``<root>/avro/**.avsc`` (default: packaged)."""
        root = Path(root) if root is not None else SCHEMAS_DIR
        catalog_file = root / CATALOG_FILE
        try:
            doc = yaml.safe_load(catalog_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CatalogError(f"cannot read {catalog_file}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise CatalogError(f"{catalog_file} is not valid YAML: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("contracts"), list):
            raise CatalogError(f"{catalog_file}: expected a mapping with a 'contracts' list")
        if doc.get("format", 1) != 1:
            raise CatalogError(f"{catalog_file}: unsupported catalog format {doc.get('format')!r}")
        contracts = tuple(_load_contract(root, entry, i) for i, entry in enumerate(doc["contracts"]))
        return cls(contracts, root=root)

    # -- lookups ------------------------------------------------------------------

    @property
    def contracts(self) -> tuple[Contract, ...]:
        return self._contracts

    def contract(self, name: str) -> Contract:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown contract {name!r}") from None

    def by_event_type(self, event_type: str) -> Contract:
        try:
            return self._by_event_type[event_type]
        except KeyError:
            raise KeyError(f"no contract for event type {event_type!r}") from None

    def by_full_name(self, full_name: str) -> Contract:
        try:
            return self._by_full_name[full_name]
        except KeyError:
            raise KeyError(f"no contract with Avro full name {full_name!r}") from None

    def by_id(self, schema_id: int) -> SchemaVersion | None:
        return self._by_id.get(schema_id)

    def versions(self) -> Iterator[SchemaVersion]:
        for c in self._contracts:
            yield from c.versions

    @property
    def schema_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._by_id))

    def match_topic(self, topic: str) -> TopicMatch | None:
        """Match a concrete topic against the contracts' topic patterns."""
        return self._topics.match(topic)

    def subject_for_topic(self, topic: str) -> tuple[str, Contract] | None:
        """TopicNameStrategy: ``("<topic>-value", contract)`` or None if no pattern matches."""
        m = self.match_topic(topic)
        return None if m is None else (m.subject, m.contract)

    def __repr__(self) -> str:
        return f"Catalog(root={str(self.root)!r}, contracts={[c.name for c in self._contracts]})"


@functools.cache
def default_catalog() -> Catalog:
    """The packaged catalog, loaded once per process."""
    return Catalog.load()


# -- loading helpers ----------------------------------------------------------------


def _load_contract(root: Path, entry: Any, index: int) -> Contract:
    where = f"{root / CATALOG_FILE}: contracts[{index}]"
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: expected a mapping")
    unknown = set(entry) - {"name", "full_name", "event_type", "topics", "versions", "compatibility", "doc"}
    if unknown:
        raise CatalogError(f"{where}: unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _CONTRACT_NAME_RE.fullmatch(name):
        raise CatalogError(f"{where}: 'name' must match {_CONTRACT_NAME_RE.pattern}")
    where = f"{root / CATALOG_FILE}: contract {name!r}"
    full_name = entry.get("full_name")
    if not isinstance(full_name, str) or not full_name:
        raise CatalogError(f"{where}: 'full_name' is required")
    if "event_type" not in entry:
        raise CatalogError(f"{where}: 'event_type' is required (null for hub contracts)")
    event_type = entry["event_type"]
    if event_type is not None and (not isinstance(event_type, str) or not event_type):
        raise CatalogError(f"{where}: 'event_type' must be a non-empty string or null")
    compatibility = entry.get("compatibility", DEFAULT_COMPATIBILITY)
    if compatibility not in COMPATIBILITY_MODES:
        raise CatalogError(f"{where}: 'compatibility' must be one of {', '.join(COMPATIBILITY_MODES)}")
    topics = entry.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        raise CatalogError(f"{where}: 'topics' must be a non-empty list of topic patterns")
    if len(set(topics)) != len(topics):
        raise CatalogError(f"{where}: duplicate topic patterns")
    for t in topics:
        compile_topic_pattern(t)
    raw_versions = entry.get("versions")
    if not isinstance(raw_versions, list) or not raw_versions:
        raise CatalogError(f"{where}: 'versions' must be a non-empty list")
    versions: list[SchemaVersion] = []
    for pos, rv in enumerate(raw_versions, start=1):
        if not isinstance(rv, dict) or set(rv) - {"version", "schema_id", "doc"}:
            raise CatalogError(f"{where}: versions[{pos - 1}] must be a mapping with 'version' and 'schema_id'")
        number, schema_id = rv.get("version"), rv.get("schema_id")
        if type(number) is not int or number != pos:
            raise CatalogError(
                f"{where}: versions must be numbered 1..N in order without gaps; "
                f"entry {pos} has version {number!r}"
            )
        if type(schema_id) is not int or not 1 <= schema_id <= MAX_SCHEMA_ID:
            raise CatalogError(f"{where} v{number}: schema_id must be an integer in [1, {MAX_SCHEMA_ID}]")
        if versions and schema_id <= versions[-1].schema_id:
            raise CatalogError(
                f"{where} v{number}: schema_id {schema_id} must be greater than v{number - 1}'s "
                f"{versions[-1].schema_id} (ids are appended, never reused)"
            )
        versions.append(_load_version(root, name, full_name, number, schema_id))
    return Contract(
        name=name,
        full_name=full_name,
        event_type=event_type,
        topics=tuple(topics),
        versions=tuple(versions),
        compatibility=compatibility,
    )


def _load_version(root: Path, contract: str, full_name: str, number: int, schema_id: int) -> SchemaVersion:
    path = schema_path(root, contract, number)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{contract} v{number}: cannot read schema file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{contract} v{number}: {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise CatalogError(f"{contract} v{number}: {path} must define a record schema")
    if _full_name(raw) != full_name:
        raise CatalogError(
            f"{contract} v{number}: {path} defines {_full_name(raw)!r}, catalog says {full_name!r}"
        )
    try:
        parsed = fastavro.parse_schema(copy.deepcopy(raw))
        read_parsed = fastavro.parse_schema(strip_logical_types(raw))
        canonical = to_parsing_canonical_form(copy.deepcopy(raw))
    except Exception as exc:  # fastavro raises several exception types
        raise CatalogError(f"{contract} v{number}: {path} is not a valid Avro schema: {exc}") from exc
    return SchemaVersion(
        contract=contract,
        version=number,
        schema_id=schema_id,
        schema=raw,
        parsed=parsed,
        canonical=canonical,
        path=path,
        read_parsed=read_parsed,
        checker=compile_checker(parsed),
    )
