"""The pure case flow (streams.core.cases.flow): which sender may write what, the repartition by
case_id, and the owner step (open, apply, refuse, replay)."""

from __future__ import annotations

import uuid

from streams.core.cases.flow import (
    STATE_TOPIC, VALIDATED_CASE_EVENTS, VALIDATED_CASES, Sender, judge_input, own_step, parse_input_topic,
)
from streams.loaders.cases import load_units

UNITS = load_units()
H = 3_600_000
T0 = 1_780_000_000_000
NOW = T0 + 2 * H
CASE_ID = "0b7c4d2e-1f3a-4b5c-9d6e-7f8a9b0c1d2e"


def case(**kw) -> dict:
    return {"case_id": CASE_ID, "source_kind": "PLATFORM", "source_id": "swiftmeal", "platform_id": "swiftmeal",
            "division_code": "110105001000", "category": "PAY", "urgency": "GENERAL", "worker_ref": None,
            "incident_id": None, "order_ref": None, "summary": "heat allowance not paid", "submitted_at": T0, **kw}


def step(action: str, kind: str, actor: str, **kw) -> dict:
    return {"event_id": str(uuid.uuid4()), "case_id": CASE_ID, "action": action, "actor_kind": kind, "actor_id": actor,
            "target_unit": None, "reason_code": None, "satisfaction": None, "note": None, "at": T0 + H, **kw}


def judge(sender: Sender, record: dict):
    return judge_input(sender, record, now_ms=NOW, division_exists=lambda code: True, units=UNITS)


def test_topics_name_their_sender():
    assert parse_input_topic("platform.swiftmeal.cases") == Sender("PLATFORM", "swiftmeal", "cases")
    assert parse_input_topic("gov.units.110105-hrss.case-events") == Sender("UNIT", "110105-hrss", "case-events")
    assert parse_input_topic("gov.units.110105-hrss.incident-acks").stream == "incident-acks"
    for other in ("platform.swiftmeal.sites", "gov.units.110105-hrss.cases", "platform.swiftmeal.case-updates",
                  "hub.validated.cases"):
        assert parse_input_topic(other) is None


def test_a_valid_case_and_step_are_forwarded_keyed_by_case_id():
    platform = Sender("PLATFORM", "swiftmeal", "cases")
    assert judge(platform, case()) == (VALIDATED_CASES, CASE_ID, case())
    accepted = step("ACCEPTED", "UNIT", "110105-hrss")
    out = judge(Sender("UNIT", "110105-hrss", "case-events"), accepted)
    assert (out.topic, out.key, out.value) == (VALIDATED_CASE_EVENTS, CASE_ID, accepted)


def test_a_sender_writes_only_as_itself():
    spoofed = judge(Sender("UNIT", "110105-amr", "case-events"), step("ACCEPTED", "UNIT", "110105-hrss"))
    assert spoofed.topic == "gov.units.110105-amr.case-rejections"
    assert spoofed.value["reason"] == "unit_mismatch"
    other = judge(Sender("PLATFORM", "cityrun", "cases"), case())
    assert (other.topic, other.value["reason"], other.value["event_id"]) == (
        "platform.cityrun.case-rejections", "platform_mismatch", CASE_ID)
    as_platform = judge(Sender("PLATFORM", "swiftmeal", "case-events"), step("RESPONDED", "UNIT", "110105-hrss"))
    assert as_platform.value["reason"] == "platform_mismatch"


def test_a_record_rule_broken_is_refused_to_the_sender():
    out = judge(Sender("PLATFORM", "swiftmeal", "cases"), case(summary="  "))
    assert (out.topic, out.value["reason"]) == ("platform.swiftmeal.case-rejections", "empty_summary")


def test_an_acknowledgement_is_forwarded_keyed_by_platform_and_incident():
    ack = {"event_id": str(uuid.uuid4()), "platform_id": "swiftmeal", "incident_id": "inc-1", "unit_id": "110105-hrss",
           "action": "RECEIVED", "target_unit": None, "note": None, "at": T0}
    out = judge(Sender("UNIT", "110105-hrss", "incident-acks"), ack)
    assert (out.topic, out.key, out.value) == ("hub.validated.incident-acks", "swiftmeal:inc-1", ack)
    assert judge(Sender("UNIT", "110105-amr", "incident-acks"), ack).value["reason"] == "unit_mismatch"


def test_the_owner_opens_applies_refuses_and_ignores_replays():
    stored, outputs = own_step(VALIDATED_CASES, None, case(), UNITS, NOW)
    assert stored["status"] == "OPEN" and outputs[0].topic == STATE_TOPIC
    assert "platform.swiftmeal.case-updates" in {o.topic for o in outputs}
    unit = stored["assigned_unit"]
    again, resent = own_step(VALIDATED_CASES, stored, case(summary="another text"), UNITS, NOW)
    assert again is stored and [o.value for o in resent] == [o.value for o in outputs]

    accepted = step("ACCEPTED", "UNIT", unit)
    after, outputs = own_step(VALIDATED_CASE_EVENTS, stored, accepted, UNITS, NOW)
    assert (after["status"], after["lead_unit"], after["version"]) == ("ACCEPTED", unit, 2)
    replayed, resent = own_step(VALIDATED_CASE_EVENTS, after, accepted, UNITS, NOW)
    assert replayed is after and {o.value["version"] for o in resent} == {2}

    feedback = step("FEEDBACK", "PLATFORM", "swiftmeal", satisfaction=5)
    unchanged, (reply,) = own_step(VALIDATED_CASE_EVENTS, after, feedback, UNITS, NOW)
    assert unchanged is after
    assert (reply.topic, reply.value["reason"]) == ("platform.swiftmeal.case-rejections", "illegal_transition")


def test_a_step_for_an_unknown_case_is_refused():
    stored, (reply,) = own_step(VALIDATED_CASE_EVENTS, None, step("ACCEPTED", "UNIT", "110105-hrss"), UNITS, NOW)
    assert stored is None
    assert (reply.topic, reply.value["reason"]) == ("gov.units.110105-hrss.case-rejections", "unknown_case")
