"""Fixtures for the contract/catalog/wire tests (pure: no Kafka)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml

from schemas.catalog import SCHEMAS_DIR, Catalog, default_catalog


class CatalogDir:
    """A writable copy of the packaged catalog (catalog.yaml, avro/, examples/)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True)
        shutil.copy2(SCHEMAS_DIR / "catalog.yaml", root / "catalog.yaml")
        shutil.copytree(SCHEMAS_DIR / "avro", root / "avro")
        shutil.copytree(
            SCHEMAS_DIR / "examples",
            root / "examples",
            ignore=shutil.ignore_patterns("__pycache__", "*.py"),
        )

    def doc(self) -> dict:
        return yaml.safe_load((self.root / "catalog.yaml").read_text())

    def write_doc(self, doc: dict) -> None:
        (self.root / "catalog.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    def latest_schema(self, contract: str) -> dict:
        return copy.deepcopy(Catalog.load(self.root).contract(contract).latest.schema)

    def add_version(self, contract: str, schema: dict, schema_id: int | None = None, valid_example: dict | None = None) -> int:
        """Append a new version of ``contract`` (next free id unless given); return its number."""
        doc = self.doc()
        entry = next(c for c in doc["contracts"] if c["name"] == contract)
        number = len(entry["versions"]) + 1
        if schema_id is None:
            schema_id = max(v["schema_id"] for c in doc["contracts"] for v in c["versions"]) + 1
        entry["versions"].append({"version": number, "schema_id": schema_id})
        path = self.root / "avro" / contract / f"v{number}.avsc"
        path.write_text(json.dumps(schema, indent=2))
        self.write_doc(doc)
        if valid_example is not None:
            ex = self.root / "examples" / contract / f"v{number}" / "valid" / "example.json"
            ex.parent.mkdir(parents=True)
            ex.write_text(json.dumps(valid_example))
        return number

    def load(self) -> Catalog:
        return Catalog.load(self.root)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
def catalog_dir(tmp_path: Path) -> CatalogDir:
    return CatalogDir(tmp_path / "schemas_copy")


