"""The case owner without a broker: records applied against the table (here a dict standing in
for the Faust table), a bad record dead-lettered, and deadline breaches found by the timer alone
-- announced once to the assigned unit and counted in the metrics."""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client import REGISTRY

from gigbridge.settings import Settings
from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.context import Context
from streams.core.plan import InMessage
from streams.loaders.cases import load_units
from streams.runtime.app import create_app
from streams.runtime.cases.measures_export import MeasureExport
from streams.runtime.cases.owner import CaseOwner

CATALOG = default_catalog()
H = 3_600_000
T0 = 1_780_000_000_000


class FakeWriter:
    def __init__(self):
        self.written = []

    async def write(self, deliveries):
        self.written.extend(deliveries)
        return []


def one_worker_export(app, settings) -> MeasureExport:
    """The export of a worker that owns every partition and is the exporter (snapshots loop back)."""
    async def loop_back(partition, snapshot):
        export.collect(snapshot)
    export = MeasureExport(app, settings, owned=lambda: set(range(settings.topic_partitions)),
                           exporting=lambda: True, send=loop_back)
    return export


def owner_at(clock):
    writer = FakeWriter()
    settings = Settings(app_id=f"t-{uuid.uuid4().hex[:6]}")
    app = create_app(settings)
    owner = CaseOwner(app, settings, Context(catalog=CATALOG, division_exists=lambda c: True), load_units(), writer,
                      clock, measures=one_worker_export(app, settings))
    owner.table = {}
    return owner, writer


def case(urgency: str) -> dict:
    return {"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM", "source_id": "swiftmeal", "platform_id": "swiftmeal",
            "division_code": "110105001000", "category": "PAY", "urgency": urgency, "worker_ref": None,
            "incident_id": None, "order_ref": None, "summary": "heat allowance not paid", "submitted_at": T0}


def forwarded(record: dict, offset: int = 0) -> InMessage:
    return InMessage("hub.validated.cases", 0, offset, record["case_id"].encode(),
                     encode(CATALOG.contract("concern_case").latest, record))


def sample(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_breaches_are_found_by_the_clock_and_announced_once():
    now = [T0]
    owner, writer = owner_at(lambda: now[0])
    cases = [case("EMERGENCY") for _ in range(5)] + [case("COMPLEX")]
    for i, c in enumerate(cases):
        asyncio.run(owner.handle(forwarded(c, i)))
    assert len(owner.table) == 6
    writer.written.clear()
    before = sample("gigbridge_case_deadline_breaches_total", deadline="accept", urgency="EMERGENCY") or 0

    now[0] = T0 + 1 * H  # EMERGENCY: accept within 30 min, respond within 2 h
    asyncio.run(owner.watch_deadlines())
    announced = [(d.topic, decode(CATALOG, d.value).record["case_id"]) for d in writer.written]
    assert len(announced) == 5 and {t for t, _ in announced} == {f"gov.units.{owner.states()[0].assigned_unit}.case-updates"}
    assert sample("gigbridge_case_deadline_breaches_total", deadline="accept", urgency="EMERGENCY") == before + 5
    assert sample("gigbridge_cases_overdue", county="110105", urgency="EMERGENCY") == 5
    assert sample("gigbridge_cases_unit", county="110105", unit=owner.states()[0].assigned_unit, measure="received") == 6

    writer.written.clear()
    asyncio.run(owner.watch_deadlines())  # nothing new: nothing re-sent
    assert writer.written == []


def test_a_record_the_owner_cannot_read_is_dead_lettered():
    owner, writer = owner_at(lambda: T0)
    asyncio.run(owner.handle(InMessage("hub.validated.cases", 3, 7, b"k", b"\x00garbage")))
    (dead,) = writer.written
    record = decode(CATALOG, dead.value).record
    assert (dead.topic, record["reason"], record["source_offset"]) == ("hub.dlq", "processing_error", 7)
    assert owner.table == {}
