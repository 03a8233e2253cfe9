"""The notice flows' state: plain mappings whose every change is logged to a compacted topic.

A :class:`LoggedTable` is a dict that remembers its changes; :meth:`LoggedTables.changes`
turns them into records for ``<app_id>-notices-state-changelog`` (key ``<table>|<key>``, value
the JSON of the new value, ``null`` once removed), which the caller writes with the batch's
outputs, acknowledged, before the input offsets are committed. :meth:`LoggedTables.restore`
reads the topic back on start. So the state is exactly as durable as the outputs.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any, Iterator

from streams.core.plan import Delivery

_REMOVED = object()


class LoggedTable(MutableMapping):
    def __init__(self, name: str) -> None:
        self.name = name
        self.data: dict[str, Any] = {}
        self.changed: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.changed[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.changed[key] = _REMOVED

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class LoggedTables:
    def __init__(self, topic: str, *names: str) -> None:
        self.topic = topic
        self.tables = {name: LoggedTable(name) for name in names}

    def __getitem__(self, name: str) -> LoggedTable:
        return self.tables[name]

    def changes(self) -> list[Delivery]:
        """The records of every change since the last call (the last value per key)."""
        out = []
        for table in self.tables.values():
            for key, value in table.changed.items():
                body = b"null" if value is _REMOVED else json.dumps(value, sort_keys=True).encode()
                out.append(Delivery("dedupe", self.topic, f"{table.name}|{key}".encode(), body))
            table.changed.clear()
        return out

    def clear(self) -> None:
        """Forget everything, logged or not (the worker no longer owns the state)."""
        for table in self.tables.values():
            table.data.clear()
            table.changed.clear()

    def restore(self, records: list) -> None:
        """Apply records read from the topic (in offset order per key); changes are not logged again."""
        for record in records:
            name, _, key = (record.key or b"").decode().partition("|")
            table = self.tables.get(name)
            if table is None:
                continue
            value = json.loads(record.value) if record.value else None
            if value is None:
                table.data.pop(key, None)
            else:
                table.data[key] = value
