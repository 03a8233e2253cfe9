"""Compatibility gate and catalog lint.

Every contract declares a Schema Registry style compatibility mode in the catalog
(default and current policy: ``BACKWARD_TRANSITIVE``: each version, as reader, can
read data written with EVERY earlier version).  The check uses the reference
``avro`` library's ``ReaderWriterCompatibilityChecker`` (independent of fastavro,
which the codec uses).

The lint part fails on files the catalog does not account for: ``.avsc`` files not
referenced by the catalog, example directories that do not map to a catalog
contract version, and catalog versions without a valid example.

CLI (exit 0 = OK, 1 = incompatible or lint problems, 2 = catalog cannot be loaded)::

    python -m schemas.compat                       # check the packaged catalog
    python -m schemas.compat --root DIR            # check another catalog dir
    python -m schemas.compat --candidate incident_report path/to/new.avsc
                                                   # would this file be a valid next version?
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from .catalog import AVRO_DIR, Catalog, CatalogError, Contract, schema_path
from .examples import layout_problems, load_examples

__all__ = [
    "Incompatibility",
    "check_candidate",
    "check_catalog",
    "check_contract",
    "check_pair",
    "lint",
    "main",
    "required_pairs",
]


@dataclass(frozen=True)
class Incompatibility:
    contract: str
    reader_version: int  # version number; 0 denotes a candidate not yet in the catalog
    writer_version: int
    mode: str
    kinds: tuple[str, ...]  # avro SchemaIncompatibilityType names, e.g. reader_field_missing_default_value
    locations: tuple[str, ...]  # JSON-pointer-like locations in the reader schema, e.g. /fields/7/type/symbols
    messages: tuple[str, ...]  # avro's details, e.g. the missing field name or enum symbols
    fields: tuple[str, ...] = ()  # reader field paths the locations point into, e.g. severity

    def __str__(self) -> str:
        def label(v: int) -> str:
            return f"v{v}" if v else "candidate"

        where = ", ".join(self.fields) if self.fields else ", ".join(self.locations)
        return (
            f"{self.contract}: {label(self.reader_version)} (reader) cannot read data written with "
            f"{label(self.writer_version)} (writer) [{self.mode}]: {', '.join(self.kinds)} "
            f"at {where}: {'; '.join(self.messages)}"
        )


def _avro_schema(schema: dict) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def _field_path(schema: dict, location: str) -> str | None:
    """Map a location like /fields/7/type/symbols to the field path (severity)."""
    node: object = schema
    names: list[str] = []
    tokens = [t for t in location.split("/") if t]
    try:
        for prev, tok in zip([None] + tokens, tokens):
            if isinstance(node, list):
                node = node[int(tok)]
                if prev == "fields" and isinstance(node, dict):
                    names.append(node["name"])
            elif isinstance(node, dict):
                node = node[tok]
            else:
                break
    except (KeyError, IndexError, ValueError, TypeError):
        pass
    return ".".join(names) or None


def check_pair(reader: dict, writer: dict) -> dict | None:
    """None if ``reader`` can read data written with ``writer``, else the problem details
    (keys ``kinds``, ``locations``, ``messages``, ``fields``; tuples of str)."""
    result = ReaderWriterCompatibilityChecker().get_compatibility(_avro_schema(reader), _avro_schema(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return None
    kinds = tuple(dict.fromkeys(i.name for i in result.incompatibilities)) or ("incompatible",)
    locations = set(result.locations)
    if len(locations) > 1:
        locations.discard("/")  # avro's merge adds the root as a duplicate location
    fields = tuple(dict.fromkeys(f for f in (_field_path(reader, loc) for loc in sorted(locations)) if f))
    return {
        "kinds": kinds,
        "locations": tuple(sorted(locations)),
        "messages": tuple(sorted(result.messages)),
        "fields": fields,
    }


def required_pairs(mode: str, count: int) -> list[tuple[int, int]]:
    """(reader_index, writer_index) pairs, 0-based, that ``mode`` requires for ``count`` versions."""
    transitive = mode.endswith("_TRANSITIVE")
    base = mode.removesuffix("_TRANSITIVE")
    pairs: list[tuple[int, int]] = []
    for new in range(1, count):
        olds = range(new) if transitive else [new - 1]
        for old in olds:
            if base in ("BACKWARD", "FULL"):
                pairs.append((new, old))  # new schema reads old data
            if base in ("FORWARD", "FULL"):
                pairs.append((old, new))  # old schema reads new data
    return pairs


def _check_schemas(name: str, mode: str, schemas: Sequence[tuple[int, dict]]) -> list[Incompatibility]:
    problems: list[Incompatibility] = []
    for r, w in required_pairs(mode, len(schemas)):
        (rv, rs), (wv, ws) = schemas[r], schemas[w]
        found = check_pair(rs, ws)
        if found is not None:
            problems.append(Incompatibility(name, rv, wv, mode, **found))
    return problems


def check_contract(contract: Contract, mode: str | None = None) -> list[Incompatibility]:
    """Check all version pairs the contract's compatibility mode requires."""
    mode = mode or contract.compatibility
    return _check_schemas(contract.name, mode, [(v.version, v.schema) for v in contract.versions])


def check_catalog(catalog: Catalog) -> list[Incompatibility]:
    return [p for c in catalog.contracts for p in check_contract(c)]


def check_candidate(contract: Contract, candidate: dict, mode: str | None = None) -> list[Incompatibility]:
    """Would ``candidate`` be acceptable as the next version of ``contract``?"""
    mode = mode or contract.compatibility
    schemas = [(v.version, v.schema) for v in contract.versions] + [(0, candidate)]
    return [p for p in _check_schemas(contract.name, mode, schemas) if 0 in (p.reader_version, p.writer_version)]


def lint(catalog: Catalog, examples_root: Path | None = None) -> list[str]:
    """Files the catalog does not account for, and catalog versions without a valid example."""
    root = catalog.root
    if root is None:
        return []
    problems: list[str] = []
    referenced = {schema_path(root, v.contract, v.version).resolve() for v in catalog.versions()}
    avro_dir = root / AVRO_DIR
    if avro_dir.is_dir():
        for f in sorted(avro_dir.rglob("*")):
            if f.is_file() and f.resolve() not in referenced:
                problems.append(f"{f}: not referenced by the catalog (expected avro/<contract>/v<N>.avsc of a listed version)")
    examples_root = examples_root if examples_root is not None else root / "examples"
    if not examples_root.is_dir():
        problems.append(f"{examples_root}: examples directory is missing")
        return problems
    layout = layout_problems(examples_root)
    problems.extend(layout)
    if layout:
        return problems
    known = {(v.contract, v.version) for v in catalog.versions()}
    valid_count: dict[tuple[str, int], int] = {}
    for ex in load_examples(examples_root):
        key = (ex.contract, ex.version)
        if key not in known:
            problems.append(f"{ex.path}: {ex.contract} v{ex.version} is not a catalog contract version")
            continue
        if ex.kind == "valid":
            valid_count[key] = valid_count.get(key, 0) + 1
    for key in sorted(known):
        if not valid_count.get(key):
            problems.append(f"{key[0]} v{key[1]}: no valid example under examples/{key[0]}/v{key[1]}/valid/")
    return problems


def _print(lines: Iterable[str], stream) -> None:
    for line in lines:
        print(line, file=stream)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.compat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="catalog directory (default: the packaged schemas/)")
    parser.add_argument(
        "--candidate",
        nargs=2,
        metavar=("CONTRACT", "AVSC"),
        help="check AVSC as the next version of CONTRACT instead of the catalog",
    )
    parser.add_argument("--no-lint", action="store_true", help="only check compatibility")
    args = parser.parse_args(argv)

    try:
        catalog = Catalog.load(args.root)
    except CatalogError as exc:
        print(f"ERROR: catalog cannot be loaded: {exc}", file=sys.stderr)
        return 2

    if args.candidate:
        name, path = args.candidate
        try:
            contract = catalog.contract(name)
            candidate = json.loads(Path(path).read_text(encoding="utf-8"))
        except (KeyError, OSError, json.JSONDecodeError) as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 2
        try:
            problems = check_candidate(contract, candidate)
        except avro.errors.AvroException as exc:
            print(f"ERROR: {path} is rejected by the avro library: {exc}", file=sys.stderr)
            return 1
        if problems:
            _print((f"INCOMPATIBLE {p}" for p in problems), sys.stderr)
            return 1
        print(f"OK: {path} is {contract.compatibility} compatible as {name} v{len(contract.versions) + 1}")
        return 0

    try:
        failures = [f"INCOMPATIBLE {p}" for p in check_catalog(catalog)]
    except avro.errors.AvroException as exc:
        print(f"ERROR: a catalog schema is rejected by the avro library: {exc}", file=sys.stderr)
        return 1
    if not args.no_lint:
        failures += [f"LINT {p}" for p in lint(catalog)]
    if failures:
        _print(failures, sys.stderr)
        return 1
    n_versions = sum(len(c.versions) for c in catalog.contracts)
    print(f"OK: {len(catalog.contracts)} contracts, {n_versions} versions, all compatibility checks passed")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
