"""``gigbridge schemas list | show CONTRACT [--version N] | check CONTRACT FILE``."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.catalog import default_catalog
from schemas.compat import check_candidate


def list_contracts() -> int:
    for contract in default_catalog().contracts:
        versions = ", ".join(f"v{v.version} (id {v.schema_id})" for v in contract.versions)
        print(f"{contract.name:18} {contract.full_name:36} {versions:24} topics: {', '.join(contract.topics)}")
    return 0


def show(name: str, version: int | None) -> int:
    contract = default_catalog().contract(name)
    chosen = contract.version(version) if version else contract.latest
    print(json.dumps(chosen.schema, indent=2, ensure_ascii=False))
    return 0


def check(name: str, path: str) -> int:
    """Exit 0 when the candidate can become the next version (compatibility mode of the
    contract, transitively), 1 with the reasons when it cannot."""
    contract = default_catalog().contract(name)
    candidate = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = check_candidate(contract, candidate)
    if not problems:
        print(f"compatible: {path} can be {name} v{contract.latest.version + 1} ({contract.compatibility})")
        return 0
    for problem in problems:
        print(f"incompatible: {problem}")
    return 1
