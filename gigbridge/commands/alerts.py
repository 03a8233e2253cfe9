"""``gigbridge alerts import FILE.xml... [--dry-run]``: CAP 1.2 warnings from files.

Without ``--dry-run`` each file, in order, goes through the same intake as ``POST /v1/alerts/cap``
(:class:`streams.runtime.notices.intake.CapIntake`): safe parsing, the CAP 1.2 XSD, the China
warning mapping, Alert/Update/Cancel applied to the registry rebuilt from the notices already
on ``gov.notices.<province>``, then the WeatherNotice records published and acknowledged.
With ``--dry-run`` the files are applied to one empty in-memory registry and nothing is sent.
Prints one JSON line per WeatherNotice record with its topic (``{"file", "topic", "notice"}``);
a refused file prints its RFC 9457 problem on stderr. Exit 0 if every file was accepted, 1 if
any was refused.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from gigbridge.divisions import default_table
from streams.core.notices.cap import CapProblem, parse_cap
from streams.core.notices.registry import Registry, apply_notice, notice_topic
from streams.loaders.notices import load_cap_schema


def _report(name: str, records, repeat_of: str | None, problem: CapProblem | None) -> int:
    for record in records:
        print(json.dumps({"file": name, "topic": notice_topic(record), "notice": record}, ensure_ascii=False))
    if repeat_of is not None:
        print(json.dumps({"file": name, "repeat": repeat_of}, ensure_ascii=False))
    if problem is None:
        return 0
    print(json.dumps({"file": name, "problem": problem.as_problem()}, ensure_ascii=False), file=sys.stderr)
    return 1


def import_dry_run(files: list[str]) -> int:
    schema, exists = load_cap_schema(), default_table().exists
    registry, refused = Registry(), 0
    for name in files:
        parsed = parse_cap(Path(name).read_bytes(), schema=schema, division_exists=exists)
        if isinstance(parsed, CapProblem):
            refused += _report(name, (), None, parsed)
            continue
        outcome = apply_notice(registry, parsed)
        registry = outcome.registry
        refused += _report(name, outcome.records, parsed.identifier if outcome.kind == "repeat" else None,
                           outcome.problem)
    return 1 if refused else 0


def import_and_publish(settings, files: list[str]) -> int:
    from streams.runtime.notices.kafka_edges import kafka_intake

    intake = kafka_intake(settings, default_table().exists)

    async def run() -> int:
        refused = 0
        for name in files:
            result = await intake.submit(Path(name).read_bytes())
            refused += _report(name, result.records, result.repeat_of, result.problem)
        return refused

    return 1 if asyncio.run(run()) else 0
