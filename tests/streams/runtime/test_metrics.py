"""metrics.record_batch: what one delivered batch adds to the Prometheus registry."""

from prometheus_client import REGISTRY

from gigbridge.divisions import default_table
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS, load_examples
from schemas.wire import encode
from streams.runtime import metrics
from streams.core.context import Context
from streams.core.plan import InMessage, plan_batch

CATALOG = default_catalog()
CTX = Context(CATALOG, default_table().exists)
INCIDENT = next(e.payload for e in load_examples(contract="incident_report", kind="valid"))
TOPIC = f"platform.{INCIDENT['platform_id']}.incidents"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_hub_latency_runs_from_the_input_timestamp_and_skips_duplicates():
    value = encode(CATALOG.contract("incident_report").latest, INCIDENT)
    appended = INCIDENT["reported_at"] + 3_600_000  # reported an hour late: not the hub's delay
    acked = appended + 40
    messages = [InMessage(TOPIC, 0, offset, b"k", value, None, appended) for offset in range(2)]
    before_count = sample("gigbridge_hub_latency_seconds_count", type="incidents")
    before_fast = sample("gigbridge_hub_latency_seconds_bucket", type="incidents", le="0.05")
    before_e2e = sample("gigbridge_end_to_end_latency_seconds_count", type="incidents")
    plan = plan_batch(messages, CTX, lambda msg, event_id: False, REFERENCE_NOW_MS)
    assert [d.duplicate for d in plan.decisions] == [False, True]

    metrics.record_batch(plan, acked)

    assert sample("gigbridge_hub_latency_seconds_count", type="incidents") == before_count + 1
    assert sample("gigbridge_hub_latency_seconds_bucket", type="incidents", le="0.05") == before_fast + 1
    # occurred_at -> acknowledged is still recorded, with the platform's reporting delay in it
    assert sample("gigbridge_end_to_end_latency_seconds_count", type="incidents") == before_e2e + 1


def test_records_without_a_timestamp_add_no_hub_latency():
    value = encode(CATALOG.contract("incident_report").latest, INCIDENT)
    before = sample("gigbridge_hub_latency_seconds_count", type="incidents")
    plan = plan_batch([InMessage(TOPIC, 1, 0, b"k", value)], CTX, lambda msg, event_id: False, REFERENCE_NOW_MS)
    metrics.record_batch(plan, REFERENCE_NOW_MS)
    assert sample("gigbridge_hub_latency_seconds_count", type="incidents") == before
