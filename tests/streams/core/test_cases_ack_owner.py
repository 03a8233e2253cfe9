"""The owner's step for incident acknowledgements (streams.core.cases.ack_owner): order enforced
against the stored state, refusals to the sending unit with nothing stored, replays re-sending the
accepted acknowledgements; and for any sequence, what is stored folds to the machine's state."""

from __future__ import annotations

import uuid

from hypothesis import given, strategies as st

from streams.core.cases.ack_owner import ack_state, own_ack
from streams.core.cases.acks import AckState, apply_ack
from streams.core.validate import Rejection

NOW = 1_780_000_000_000
UNIT, OTHER, THIRD = "110105-hrss", "110105-amr", "310115-hrss"


def ack(action: str, unit: str = UNIT, target: str | None = None, incident: str = "inc-1") -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": "swiftmeal", "incident_id": incident, "unit_id": unit,
            "action": action, "target_unit": target, "note": None, "at": NOW}


def test_legal_steps_are_stored_and_sent_to_the_platform():
    received, referred, visited = ack("RECEIVED"), ack("REFERRED", target=OTHER), ack("VISITED", unit=OTHER)
    stored = None
    for step in (received, referred, visited):
        stored, outputs = own_ack(stored, step, NOW)
        assert [(o.topic, o.key, o.value) for o in outputs] == [("platform.swiftmeal.incident-acks", "inc-1", step)]
    assert stored == {"acks": [received, referred, visited]}
    assert ack_state(stored) == AckState("swiftmeal", "inc-1", UNIT, ("RECEIVED", "REFERRED", "VISITED"), OTHER,
                                         (received["event_id"], referred["event_id"], visited["event_id"]))


def test_an_illegal_step_is_refused_to_its_sender_and_changes_nothing():
    first = ack("VISITED")
    stored, (reply,) = own_ack(None, first, NOW)
    assert stored is None
    assert (reply.topic, reply.key) == (f"gov.units.{UNIT}.case-rejections", "inc-1")
    assert (reply.value["event_id"], reply.value["case_id"], reply.value["reason"]) == (
        first["event_id"], "inc-1", "not_received")
    stored, _ = own_ack(None, ack("RECEIVED"), NOW)
    for bad, reason in ((ack("RECEIVED"), "illegal_transition"), (ack("VISITED", unit=THIRD), "actor_not_permitted")):
        after, (reply,) = own_ack(stored, bad, NOW)
        assert after is stored and reply.value["reason"] == reason
        assert reply.topic == f"gov.units.{bad['unit_id']}.case-rejections"


def test_a_replay_changes_nothing_and_resends_every_accepted_ack():
    received, visited = ack("RECEIVED"), ack("VISITED")
    stored, _ = own_ack(None, received, NOW)
    stored, _ = own_ack(stored, visited, NOW)
    again, outputs = own_ack(stored, received, NOW)
    assert again is stored
    assert [o.value for o in outputs] == [received, visited]
    assert {o.topic for o in outputs} == {"platform.swiftmeal.incident-acks"}


STEPS = st.tuples(st.sampled_from(("RECEIVED", "VISITED", "REFERRED")), st.sampled_from((UNIT, OTHER, THIRD)),
                  st.sampled_from((OTHER, THIRD)), st.booleans())


@given(st.lists(STEPS, max_size=12))
def test_any_sequence_stores_exactly_what_the_machine_accepts(steps):
    stored, state, sent = None, None, []
    for action, unit, target, replay in steps:
        record = sent[-1] if replay and sent else ack(action, unit, target if action == "REFERRED" else None)
        expected = apply_ack(state, record)
        stored, outputs = own_ack(stored, record, NOW)
        if isinstance(expected, Rejection):
            assert outputs[0].value["reason"] == expected.reason
        else:
            if expected is not state:
                sent.append(record)
            state = expected
        assert ack_state(stored) == state
        assert [a["event_id"] for a in (stored or {"acks": []})["acks"]] == list(state.applied_event_ids if state else ())
        assert state is None or (state.steps[0] == "RECEIVED" and len(set(state.steps)) == len(state.steps))
