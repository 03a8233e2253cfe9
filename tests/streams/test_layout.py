"""The pure core stays pure: no module under ``streams.core`` imports a Kafka, HTTP, RocksDB or
socket library, nor anything of the runtime (``streams.runtime``), the connectors, the file
loaders (``streams.loaders``) or the composition root (``streams.context``).

Read from each module's source (AST), so a lazy import inside a function counts as much as one
at the top; every module is also imported, so a module the walk cannot load fails here too."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import streams.core

FORBIDDEN = ("aiokafka", "kafka", "faust", "aiohttp", "rocksdict", "confluent_kafka", "socket",
             "streams.runtime", "streams.loaders", "streams.context", "connectors")

CORE_MODULES = sorted(info.name for info in pkgutil.walk_packages(streams.core.__path__, "streams.core."))


def imported_names(source: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` statement of ``source`` names (absolute
    names; the core uses no relative imports, see the assertion below)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in the core: name the module in full"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)


def test_the_walk_finds_the_core_modules():
    # guards against an empty walk passing vacuously
    assert {"streams.core.validate", "streams.core.pii", "streams.core.plan", "streams.core.policy",
            "streams.core.route", "streams.core.classify", "streams.core.topics",
            "streams.core.cover.orders", "streams.core.cases.lifecycle",
            "streams.core.notices.cap"} <= set(CORE_MODULES)


@pytest.mark.parametrize("name", CORE_MODULES)
def test_a_core_module_imports_no_io_runtime_or_connector(name):
    module = importlib.import_module(name)
    bad = sorted(n for n in imported_names(Path(module.__file__).read_text(encoding="utf-8")) if is_forbidden(n))
    assert not bad, f"{name} imports {bad}"


def test_the_check_catches_a_forbidden_import():
    source = ("import socket\nfrom streams.runtime.writer import Writer\n"
              "from connectors import metrics\nimport kafka.admin\n")
    assert sorted(n for n in imported_names(source) if is_forbidden(n)) == [
        "connectors", "connectors.metrics", "kafka.admin", "socket", "streams.runtime.writer",
        "streams.runtime.writer.Writer"]
    assert not is_forbidden("kafkaesque") and not is_forbidden("streams.core.topics")
