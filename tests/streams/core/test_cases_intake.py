"""Case intake planning (streams.core.cases.intake): one delivery per input record, never an
exception -- forwarded keyed by case_id, refused to the sender, or dead-lettered with the bytes."""

from __future__ import annotations

import uuid

from schemas.catalog import default_catalog
from schemas.wire import decode, encode
from streams.core.cases import intake
from streams.core.cases.intake import plan_intake
from streams.core.context import Context
from streams.core.plan import InMessage
from streams.loaders.cases import load_units

CATALOG = default_catalog()
CTX = Context(catalog=CATALOG, division_exists=lambda code: True)
UNITS = load_units()
T0 = 1_780_000_000_000
CASE_ID = str(uuid.uuid4())
CASE = {"case_id": CASE_ID, "source_kind": "PLATFORM", "source_id": "swiftmeal", "platform_id": "swiftmeal",
        "division_code": "110105001000", "category": "PAY", "urgency": "GENERAL", "worker_ref": None,
        "incident_id": None, "order_ref": None, "summary": "heat allowance not paid", "submitted_at": T0}


def msg(topic: str, value: bytes, offset: int = 0) -> InMessage:
    return InMessage(topic, 0, offset, b"k", value)


def test_each_record_gets_one_delivery_in_order():
    good = encode(CATALOG.contract("concern_case").latest, CASE)
    wrong = encode(CATALOG.contract("concern_case").latest, CASE)
    out = plan_intake([msg("platform.swiftmeal.cases", good), msg("platform.swiftmeal.case-events", wrong, 1),
                       msg("platform.swiftmeal.cases", b"\x00\x00", 2), msg("platform.swiftmeal.sites", good, 3)],
                      CTX, UNITS, T0 + 1000)
    assert [(d.kind, d.topic) for d in out] == [("validated", "hub.validated.cases"), ("dlq", "hub.dlq"),
                                                ("dlq", "hub.dlq")]
    assert out[0].key == CASE_ID.encode() and decode(CATALOG, out[0].value).record == CASE
    dead = decode(CATALOG, out[1].value).record
    assert (dead["reason"], dead["source_offset"], dead["original_value"]) == ("wrong_contract", 1, wrong)
    assert decode(CATALOG, out[2].value).record["reason"] == "truncated"


def test_a_failing_judgement_is_dead_lettered_not_raised(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("bug")
    monkeypatch.setattr(intake, "judge_input", broken)
    (out,) = plan_intake([msg("platform.swiftmeal.cases", encode(CATALOG.contract("concern_case").latest, CASE))],
                         CTX, UNITS, T0)
    assert (out.topic, decode(CATALOG, out.value).record["reason"]) == ("hub.dlq", "processing_error")


def test_a_refusal_goes_to_the_sender():
    (out,) = plan_intake([msg("platform.cityrun.cases", encode(CATALOG.contract("concern_case").latest, CASE))],
                         CTX, UNITS, T0)
    assert (out.kind, out.topic) == ("rejected", "platform.cityrun.case-rejections")
    assert decode(CATALOG, out.value).record["reason"] == "platform_mismatch"


def unit_step(actor: str = "110105-hrss") -> dict:
    return {"event_id": str(uuid.uuid4()), "case_id": CASE_ID, "action": "ACCEPTED", "actor_kind": "UNIT",
            "actor_id": actor, "target_unit": None, "reason_code": None, "satisfaction": None, "note": None,
            "at": T0}


def gateway_msg(value: bytes, headers: tuple, offset: int = 0) -> InMessage:
    return InMessage("hub.units.gateway", 0, offset, CASE_ID.encode(), value, None, None, headers)


def test_a_units_http_record_is_judged_as_if_on_the_units_own_topic():
    from streams.core.cases.gateway_input import unit_headers

    value = encode(CATALOG.contract("case_event").latest, unit_step())
    own, other = unit_headers("110105-hrss", "case-events"), unit_headers("110105-amr", "case-events")
    forwarded, refused = plan_intake([gateway_msg(value, own), gateway_msg(value, other, 1)], CTX, UNITS, T0)
    assert (forwarded.kind, forwarded.topic, forwarded.key) == ("validated", "hub.validated.case-events",
                                                                CASE_ID.encode())
    assert (refused.kind, refused.topic) == ("rejected", "gov.units.110105-amr.case-rejections")
    assert decode(CATALOG, refused.value).record["reason"] == "unit_mismatch"
    assert [intake.input_stream(m) for m in (gateway_msg(value, own), gateway_msg(value, ()))] == [
        "case-events", "unknown"]


def test_a_units_http_record_without_valid_headers_is_dead_lettered():
    value = encode(CATALOG.contract("case_event").latest, unit_step())
    unit = ("gigbridge-unit", b"110105-hrss")
    bad_headers = [(), (unit,), (unit, ("gigbridge-stream", b"cases")), (("gigbridge-unit", b"no-such-unit"),
                   ("gigbridge-stream", b"case-events")), (unit, unit, ("gigbridge-stream", b"case-events"))]
    out = plan_intake([gateway_msg(value, h, i) for i, h in enumerate(bad_headers)], CTX, UNITS, T0)
    assert [(d.kind, decode(CATALOG, d.value).record["reason"]) for d in out] == [
        ("dlq", "invalid_unit_headers")] * len(bad_headers)
    assert decode(CATALOG, out[0].value).record["original_value"] == value


def test_a_units_http_ack_goes_to_its_owner_keyed_by_platform_and_incident():
    """Judged as on the unit's own topic: forwarded to the acknowledgement owner, which keeps their
    order and sends the platform its ``incident-acks`` (streams/runtime/cases/ack_owner.py)."""
    from streams.core.cases.gateway_input import unit_headers

    ack = {"event_id": str(uuid.uuid4()), "platform_id": "swiftmeal", "incident_id": "SM-7", "unit_id": "110105-hrss",
           "action": "RECEIVED", "target_unit": None, "note": None, "at": T0}
    value = encode(CATALOG.contract("incident_ack").latest, ack)
    (out,) = plan_intake([gateway_msg(value, unit_headers("110105-hrss", "incident-acks"))], CTX, UNITS, T0)
    assert (out.kind, out.topic, out.key) == ("validated", "hub.validated.incident-acks", b"swiftmeal:SM-7")
