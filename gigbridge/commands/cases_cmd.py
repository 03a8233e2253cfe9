"""``gigbridge cases list``: the current concern cases from the compacted ``hub.cases.state``,
filtered (``--division`` prefix, ``--overdue`` / ``--on-time``, ``--status``), one JSON line per case and a
count line on stderr. Reads with the hub's own connection settings, so it sees every case (the
operator view of ``streams.core.cases.lookup``); platforms and units use the worker's
``GET /v1/cases`` with their token instead.
"""

from __future__ import annotations

import json
import sys
import time

from gigbridge.broker_errors import client_config
from gigbridge.commands.topic_read import read_to_end
from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode
from streams.core.cases.flow import STATE_TOPIC
from streams.core.cases.lookup import OPERATOR, latest, select


def read_states(settings: Settings, topic: str = STATE_TOPIC) -> list[dict]:
    """Every decodable record of ``topic``, from the beginning to its end at the time of the call."""
    catalog = default_catalog()
    records = []
    for message in read_to_end({**client_config(settings), "client_id": "gigbridge-cases"}, topic, timeout_ms=5000):
        try:
            records.append(decode(catalog, message.value or b"").record)
        except WireFormatError:
            continue  # the hub writes only CaseStates here; anything else is not a case
    return records


def run(settings: Settings, division: str | None, overdue: bool | None, status: str | None) -> int:
    now_ms = int(time.time() * 1000)
    rows = select(latest(read_states(settings)), OPERATOR, now_ms, division=division, overdue=overdue, status=status)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False), flush=True)
    print(f"{len(rows)} cases", file=sys.stderr)
    return 0
