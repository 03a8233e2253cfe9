"""UnitSubmissions (connectors.gateway.unit_writes) without a broker: per-event outcomes judged
as the case intake judges a unit's own topic, accepted events on hub.units.gateway keyed like
the unit's topic with the unit and stream in headers, and a clear error when Kafka does not
acknowledge."""

from __future__ import annotations

import uuid

import pytest

from connectors.gateway.producer import ProduceError
from connectors.gateway.unit_writes import EventAccepted, EventRejected, SubmissionNotSaved, UnitSubmissions
from schemas.catalog import default_catalog
from schemas.examples import REFERENCE_NOW_MS
from schemas.wire import decode
from streams.core.cases.gateway_input import UNITS_GATEWAY_TOPIC, gateway_sender
from streams.core.context import Context
from streams.loaders.cases import load_units
from tests.connectors.gateway.helpers import RecordingProducer

CATALOG = default_catalog()
CTX = Context(catalog=CATALOG, division_exists=lambda code: True)
UNITS = load_units()
UNIT = "110105-hrss"


def step(action: str = "ACCEPTED", actor: str = UNIT, **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "action": action, "actor_kind": "UNIT",
            "actor_id": actor, "at": REFERENCE_NOW_MS - 60_000, **kw}


def ack(unit: str = UNIT, **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": "swiftdash", "incident_id": "SD-0531-7", "unit_id": unit,
            "action": "RECEIVED", "at": REFERENCE_NOW_MS - 60_000, **kw}


def submissions(producer) -> UnitSubmissions:
    return UnitSubmissions(producer, CTX, lambda: REFERENCE_NOW_MS / 1000, units=UNITS)


async def test_valid_steps_are_written_keyed_by_case_with_the_unit_in_headers():
    producer = RecordingProducer()
    events = [step(), step("TRANSFERRED", target_unit="310115-hrss")]
    outcomes = await submissions(producer).submit(UNIT, "case-events", events)
    assert outcomes == [EventAccepted(0, events[0]["event_id"]), EventAccepted(1, events[1]["event_id"])]
    ((topic, records, headers),) = producer.sent
    assert topic == UNITS_GATEWAY_TOPIC
    assert [k for k, _ in records] == [e["case_id"].encode() for e in events]
    assert [decode(CATALOG, v).record["action"] for _, v in records] == ["ACCEPTED", "TRANSFERRED"]
    # the intake reads these headers back as the unit's own topic
    assert tuple(gateway_sender(headers, UNITS)) == ("UNIT", UNIT, "case-events")


async def test_each_invalid_event_is_rejected_with_its_reason_and_the_valid_ones_still_go():
    producer = RecordingProducer()
    good = ack()
    outcomes = await submissions(producer).submit(UNIT, "incident-acks", [
        ack(unit="110105-amr"), good, {"event_id": "x"}, ack(action="REFERRED")])
    assert [o.status for o in outcomes] == ["rejected", "accepted", "rejected", "rejected"]
    assert (outcomes[0].reason, outcomes[0].field) == ("unit_mismatch", "unit_id")
    assert outcomes[2].reason == "schema_violation"
    assert (outcomes[3].reason, outcomes[3].field) == ("invalid_target_unit", "target_unit")
    assert isinstance(outcomes[0], EventRejected) and "110105-amr" not in outcomes[0].message
    ((_, records, _),) = producer.sent
    assert records == [(b"SD-0531-7", records[0][1])] and decode(CATALOG, records[0][1]).record == good


async def test_a_step_naming_a_platform_as_actor_is_refused():
    outcomes = await submissions(RecordingProducer()).submit(
        UNIT, "case-events", [step(actor_kind="PLATFORM", actor="swiftdash")])
    assert outcomes[0].as_dict()["reason"] == "unit_mismatch"


async def test_nothing_valid_means_nothing_is_produced():
    producer = RecordingProducer()
    outcomes = await submissions(producer).submit(UNIT, "case-events", [step(note="call 13800138000")])
    assert outcomes[0].reason == "pii_detected" and producer.sent == []


async def test_no_acknowledgement_raises_submission_not_saved():
    with pytest.raises(SubmissionNotSaved, match="nothing was saved"):
        await submissions(RecordingProducer(ProduceError("timeout"))).submit(UNIT, "case-events", [step()])


async def test_unknown_stream_or_unit_is_a_caller_error():
    with pytest.raises(ValueError, match="unit streams"):
        await submissions(RecordingProducer()).submit(UNIT, "cases", [step()])
    with pytest.raises(ValueError, match="units file"):
        await submissions(RecordingProducer()).submit("999999-nobody", "case-events", [step()])
