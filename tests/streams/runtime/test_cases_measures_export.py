"""The case measures of two workers (streams.runtime.cases.measures_export), without a broker:
each publishes the counts of its own partitions, the exporter publishes the suppressed sum --
the same gauges as one worker holding every case -- and only once it has every partition; the
other worker exports none."""

from __future__ import annotations

import asyncio
import uuid

from gigbridge.settings import Settings
from streams.core.cases.measures import overdue_by_urgency, unit_measures
from streams.runtime.app import create_app
from streams.runtime.cases.measures_export import MeasureExport, case_partition
from streams.runtime.cases.metrics import CASE_SATISFACTION, CASES_BY_UNIT, CASES_OVERDUE, publish_measures
from tests.support.case_states import simulated_states

START = 1_780_000_000_000
NOW = START + 10 * 86_400_000
STATES = simulated_states(START)


def gauges() -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for g in (CASES_BY_UNIT, CASE_SATISFACTION, CASES_OVERDUE) for f in g.collect() for s in f.samples}


def test_two_workers_export_what_one_worker_holding_every_case_would():
    publish_measures(unit_measures(STATES), overdue_by_urgency(STATES, NOW))
    one_worker = gauges()
    assert one_worker

    settings = Settings(app_id=f"t-{uuid.uuid4().hex[:6]}", topic_partitions=6)
    exporter_box: list[MeasureExport] = []

    async def to_exporter(partition, snapshot):  # the snapshot topic: read only by the exporter
        exporter_box[0].collect(snapshot)

    first = MeasureExport(create_app(settings), settings, owned=lambda: {0, 1, 2}, exporting=lambda: True,
                          send=to_exporter)
    second = MeasureExport(create_app(settings), settings, owned=lambda: {3, 4, 5}, exporting=lambda: False,
                           send=to_exporter)
    exporter_box.append(first)
    held = {w: [s for s in STATES if (case_partition(s.case_id, 6) < 3) == (w is first)] for w in (first, second)}
    assert held[first] and held[second]

    asyncio.run(first.tick(held[first], NOW))  # the second worker's partitions not known yet: nothing exported
    assert gauges() == {}
    asyncio.run(second.tick(held[second], NOW))
    assert gauges() == {}  # not the exporter: exports none
    asyncio.run(first.tick(held[first], NOW))
    assert gauges() == one_worker


def test_a_failing_snapshot_send_does_not_stop_the_export():
    settings = Settings(app_id=f"t-{uuid.uuid4().hex[:6]}", topic_partitions=1)

    async def broken(partition, snapshot):
        raise TimeoutError("stuck in a rebalance")

    export = MeasureExport(create_app(settings), settings, owned=lambda: {0}, exporting=lambda: True, send=broken)
    export.collect({"partition": 0, "counts": {"units": {"110105/110105-hrss": {"received": 7}}, "overdue": {}}})
    asyncio.run(export.tick([], NOW))  # the send fails; the exporter still publishes what it has
    assert gauges()[("gigbridge_cases_unit", (("county", "110105"), ("measure", "received"),
                                              ("unit", "110105-hrss")))] == 7.0
