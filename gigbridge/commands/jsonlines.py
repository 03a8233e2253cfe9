"""Reading event files: JSON lines of ``{"type": "sites", "event": {...}}`` or, with a fixed
type, plain event objects. Shared by ``gigbridge validate`` and ``gigbridge publish``."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from streams.core.validate import EVENT_TYPES


@dataclass(frozen=True)
class Line:
    number: int
    event_type: str | None
    event: object
    error: str | None = None  # malformed_json / unknown_event_type


def read_lines(path: str, fixed_type: str | None = None) -> Iterator[Line]:
    stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")
    with stream:
        for number, text in enumerate(stream, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError:
                yield Line(number, None, None, "malformed_json")
                continue
            if fixed_type:
                yield Line(number, fixed_type, obj)
                continue
            event_type = obj.get("type") if isinstance(obj, dict) else None
            if event_type not in EVENT_TYPES:
                yield Line(number, None, None, "unknown_event_type")
                continue
            yield Line(number, event_type, obj.get("event"))
