"""Example payloads for every contract version, and their loader.

Layout (see README.md)::

    schemas/examples/<contract>/v<N>/valid/<name>.json     the payload itself
    schemas/examples/<contract>/v<N>/invalid/<name>.json   {"reason", "field", "description", "payload"}

Payloads are in the "Python dict" form used by :mod:`schemas.wire`: timestamps are
int epoch milliseconds, unions are plain values (not Avro-JSON ``{"string": ...}``),
enums are symbol strings.  JSON has no bytes type, so a bytes value is written as
``{"$base64": "<standard base64>"}`` and the loader turns it into ``bytes``.

All time-dependent rules in the examples are relative to :data:`REFERENCE_NOW_MS`
(2026-06-01T00:00:00Z): validation must be run with that clock to get the expected
outcome.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "EXAMPLES_DIR",
    "REFERENCE_NOW",
    "REFERENCE_NOW_MS",
    "Example",
    "ExampleLayoutError",
    "layout_problems",
    "load_examples",
]

#: Reference clock for all examples: 2026-06-01T00:00:00Z in epoch milliseconds.
REFERENCE_NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
REFERENCE_NOW_MS = 1_780_272_000_000
assert int(REFERENCE_NOW.timestamp() * 1000) == REFERENCE_NOW_MS

EXAMPLES_DIR = Path(__file__).resolve().parent

Kind = Literal["valid", "invalid"]
KINDS: tuple[str, ...] = ("valid", "invalid")

_CONTRACT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*\.json$")
_IGNORED = {"__init__.py", "README.md", "__pycache__"}
_INVALID_KEYS = {"reason", "field", "description", "payload"}


class ExampleLayoutError(ValueError):
    """A file or directory under examples/ does not follow the layout."""


@dataclass(frozen=True, eq=False)
class Example:
    contract: str
    version: int
    kind: Kind
    name: str
    payload: dict
    reason: str | None  # expected validation reason code (invalid examples only)
    field: str | None  # expected offending field path (invalid examples only; may be None)
    path: Path
    description: str | None = None  # invalid examples: why the payload is invalid

    @property
    def id(self) -> str:
        """Stable id, handy for pytest parametrization: ``site_event/v1/valid/<name>``."""
        return f"{self.contract}/v{self.version}/{self.kind}/{self.name}"


def _decode_bytes(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$base64"}:
            return base64.b64decode(value["$base64"], validate=True)
        return {k: _decode_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_bytes(v) for v in value]
    return value


def _scan(root: Path) -> tuple[list[tuple[str, int, str, Path]], list[str]]:
    """Return ((contract, version, kind, file) for each example file, layout problems)."""
    files: list[tuple[str, int, str, Path]] = []
    problems: list[str] = []
    for cdir in sorted(root.iterdir()):
        if cdir.name in _IGNORED:
            continue
        if not cdir.is_dir() or not _CONTRACT_RE.fullmatch(cdir.name):
            problems.append(f"{cdir}: expected a <contract> directory")
            continue
        for vdir in sorted(cdir.iterdir()):
            m = _VERSION_RE.fullmatch(vdir.name)
            if not vdir.is_dir() or m is None:
                if vdir.name != "__pycache__":
                    problems.append(f"{vdir}: expected a v<N> directory")
                continue
            for kdir in sorted(vdir.iterdir()):
                if not kdir.is_dir() or kdir.name not in KINDS:
                    problems.append(f"{kdir}: expected a 'valid' or 'invalid' directory")
                    continue
                for f in sorted(kdir.iterdir()):
                    if not f.is_file() or not _NAME_RE.fullmatch(f.name):
                        problems.append(f"{f}: expected <name>.json (lowercase, digits, underscores)")
                        continue
                    files.append((cdir.name, int(m.group(1)), kdir.name, f))
    return files, problems


def layout_problems(root: Path | None = None) -> list[str]:
    """Layout problems under the examples directory (empty list if all is well)."""
    return _scan(Path(root) if root is not None else EXAMPLES_DIR)[1]


def _load_one(contract: str, version: int, kind: str, path: Path) -> Example:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExampleLayoutError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ExampleLayoutError(f"{path}: expected a JSON object")
    if kind == "valid":
        return Example(contract, version, "valid", path.stem, _decode_bytes(doc), None, None, path)
    if set(doc) != _INVALID_KEYS:
        raise ExampleLayoutError(f"{path}: invalid examples need exactly the keys {sorted(_INVALID_KEYS)}")
    reason, fld, description, payload = doc["reason"], doc["field"], doc["description"], doc["payload"]
    if not isinstance(reason, str) or not reason:
        raise ExampleLayoutError(f"{path}: 'reason' must be a reason code")
    if fld is not None and not isinstance(fld, str):
        raise ExampleLayoutError(f"{path}: 'field' must be a field path or null")
    if not isinstance(description, str) or not description:
        raise ExampleLayoutError(f"{path}: 'description' must explain why the payload is invalid")
    if not isinstance(payload, dict):
        raise ExampleLayoutError(f"{path}: 'payload' must be a JSON object")
    return Example(contract, version, "invalid", path.stem, _decode_bytes(payload), reason, fld, path, description)


def load_examples(
    root: Path | None = None,
    *,
    contract: str | None = None,
    version: int | None = None,
    kind: Kind | None = None,
) -> list[Example]:
    """Load examples (fresh objects on every call), sorted by contract/version/kind/name.

    Raises :class:`ExampleLayoutError` if the directory does not follow the layout.
    """
    files, problems = _scan(Path(root) if root is not None else EXAMPLES_DIR)
    if problems:
        raise ExampleLayoutError("; ".join(problems))
    return [
        _load_one(c, v, k, p)
        for c, v, k, p in files
        if (contract is None or c == contract) and (version is None or v == version) and (kind is None or k == kind)
    ]
