"""The simulator's broken events get exactly the verdict they announce."""

from gigbridge.divisions import default_table
from gigbridge.simulator.generator import Simulator
from gigbridge.simulator.run import event_bytes
from schemas.catalog import default_catalog
from streams.core.classify import Accepted, DeadLettered, Rejected, classify
from streams.core.context import Context
from streams.core.topics import IngestTopic

NOW = 1_780_272_000_000


def test_simulated_events_get_their_expected_verdicts():
    sim = Simulator(default_table(), seed=7, platforms=3, invalid_share=0.3)
    ctx = Context(default_catalog(), default_table().exists)
    seen = set()
    for _ in range(3000):
        event = sim.next_event(NOW)
        outcome = classify(event_bytes(event, ctx.catalog), IngestTopic(event.platform_id, event.event_type), ctx, NOW)
        if event.raw is not None:
            assert isinstance(outcome, DeadLettered)
        elif event.expected_reason is None:
            assert isinstance(outcome, Accepted), outcome
        else:
            assert isinstance(outcome, Rejected) and outcome.rejection.reason == event.expected_reason
            seen.add(event.expected_reason)
    assert {"timestamp_in_future", "unknown_division_code", "platform_mismatch", "invalid_event_id"} <= seen
