"""One CAP 1.2 document in, WeatherNotice records out: the single path of ``POST /v1/alerts/cap``
and ``gigbridge alerts import FILE.xml``.

:meth:`CapIntake.submit` guarantees, in order: the document is parsed safely and validated
(:func:`streams.core.notices.cap.parse_cap`; a refusal publishes nothing); the registry is
rebuilt from the notices already published (:func:`streams.core.notices.replay.registry_from_records`)
and the message applied to it (an Update/Cancel of an unknown or cancelled notice is refused,
a repeat publishes nothing); every record is encoded in the wire format BEFORE anything is sent,
so a record that does not fit the contract publishes nothing either; then all records are sent
and acknowledged. Submissions of one intake are serialized (a lock), so two messages of a
chain are never applied to the same registry snapshot. The Kafka side is injected.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import xmlschema

from schemas.catalog import Catalog
from schemas.wire import encode
from streams.core.notices.cap import DEFAULT_MAX_BYTES, CapProblem, parse_cap
from streams.core.notices.registry import apply_notice, notice_topic
from streams.core.notices.replay import registry_from_records

#: (topic, key, wire-format value) of every record of one message, all acknowledged or an exception.
Publish = Callable[[Sequence[tuple[str, bytes, bytes]]], Awaitable[None]]
ReadPublished = Callable[[], Awaitable[list[dict]]]


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """``records`` published (empty for a repeat or a refusal); ``problem``: why it was refused;
    ``repeat_of``: the CAP identifier of a message seen before (nothing published)."""

    records: tuple[dict, ...] = ()
    problem: CapProblem | None = None
    repeat_of: str | None = None

    @property
    def repeat(self) -> bool:
        return self.repeat_of is not None

    def topics(self) -> list[str]:
        return [notice_topic(r) for r in self.records]


class CapIntake:
    """See the module docstring. ``read_published`` returns every WeatherNotice record published
    so far; ``publish`` sends and awaits acknowledgement of a message's records."""

    def __init__(self, *, schema: Callable[[], xmlschema.XMLSchema], division_exists: Callable[[str], bool],
                 catalog: Catalog, read_published: ReadPublished, publish: Publish,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._schema = schema
        self._division_exists = division_exists
        self._version = catalog.contract("weather_notice").latest
        self._read_published = read_published
        self._publish = publish
        self.max_bytes = max_bytes
        self._lock = asyncio.Lock()

    async def submit(self, data: bytes) -> IntakeResult:
        # XSD validation takes milliseconds of CPU: off the event loop
        parsed = await asyncio.to_thread(parse_cap, data, schema=self._schema(),
                                         division_exists=self._division_exists, max_bytes=self.max_bytes)
        if isinstance(parsed, CapProblem):
            return IntakeResult(problem=parsed)
        async with self._lock:
            applied = apply_notice(registry_from_records(await self._read_published()), parsed)
            if applied.kind == "refused":
                return IntakeResult(problem=applied.problem)
            if applied.kind == "repeat":
                return IntakeResult(repeat_of=parsed.identifier)
            encoded = [(notice_topic(r), r["notice_id"].encode("utf-8"), encode(self._version, r))
                       for r in applied.records]
            await self._publish(encoded)
            return IntakeResult(records=applied.records)
