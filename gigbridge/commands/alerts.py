"""``gigbridge alerts import FILE.xml... --dry-run``: CAP 1.2 warnings from files.

Each file goes through the same core as ``POST /v1/alerts/cap`` will (streams.core.notices):
safe parsing, the CAP 1.2 XSD, the China warning mapping, then Alert/Update/Cancel applied in
file order to one in-memory registry (so an alert and its update can be checked together).
Prints one JSON line per WeatherNotice record that would be published, with its topic; a refused
file prints its RFC 9457 problem on stderr. Publishing to Kafka is not wired yet: the parser
requires --dry-run. Exit 0 if every file was accepted, 1 if any was refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gigbridge.divisions import default_table
from streams.core.notices.cap import CapProblem, parse_cap
from streams.core.notices.registry import Registry, apply_notice, notice_topic
from streams.loaders.notices import load_cap_schema


def import_dry_run(files: list[str]) -> int:
    schema, exists = load_cap_schema(), default_table().exists
    registry, refused = Registry(), 0
    for name in files:
        data = Path(name).read_bytes()
        parsed = parse_cap(data, schema=schema, division_exists=exists)
        if isinstance(parsed, CapProblem):
            problem: CapProblem | None = parsed
        else:
            outcome = apply_notice(registry, parsed)
            registry, problem = outcome.registry, outcome.problem
            for record in outcome.records:
                print(json.dumps({"file": name, "topic": notice_topic(record), "notice": record}, ensure_ascii=False))
            if outcome.kind == "repeat":
                print(json.dumps({"file": name, "repeat": parsed.identifier}, ensure_ascii=False))
        if problem is not None:
            refused += 1
            print(json.dumps({"file": name, "problem": problem.as_problem()}, ensure_ascii=False), file=sys.stderr)
    return 1 if refused else 0
