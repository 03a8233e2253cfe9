"""The concern-case ledger (issue #16): traffic of cases and their steps in rounds, and the check
that after faults every input ended as it should and every case's state is the pure replay of
the inputs the hub accepted.

Producer side (:class:`CaseTraffic`): ``n`` cases of one platform over four pilot counties, sent
in rounds -- the cases, then one step per case per round (ACCEPTED, RESPONDED, RESOLVED by the
unit the case was routed to, on the unit's topic; FEEDBACK by the platform on its topic). Steps
of a round go out only when every case has reached the previous round's version
(:meth:`CaseTraffic.wait_round`): steps of different senders have no order between them, and a
step that overtakes its case is refused by design (docs/cases.md). Each round also carries, for
every fourth case, from the second step round on, the previous round's step again (a replay: must
change nothing) and, in the RESPONDED round, a step of a unit that never handled the case (must
be refused ``actor_not_permitted``; RESPONDED is legal in the status before and after the round,
so the reason does not depend on which of the two steps the owner applies first). Every message carries the ``ledger-seq`` header.

Reading side (:func:`check_cases`): every input offset of the traffic is found by its header and
* a case or a valid step is forwarded (``hub.validated.cases`` / ``.case-events``) and, for a
  step, its ``event_id`` is in the case's final ``applied_event_ids`` exactly once;
* a refused step has one ``CaseRejection`` with its ``event_id`` and reason on the sender's topic;
* on ``hub.cases.state`` each case's versions step by one from 1, every copy of a version is the
  same record, and the highest version equals the pure lifecycle's replay of the accepted inputs.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from schemas.wire import encode
from streams.core.cases.flow import STATE_TOPIC, VALIDATED_CASE_EVENTS, VALIDATED_CASES
from streams.core.cases.lifecycle import CaseState, Transition, apply, open_case
from streams.loaders.cases import load_units
from tests.support.ledger import CATALOG, SEQ_HEADER, Expectation, LedgerReport, Traffic, _decode, read_topics

UNITS = load_units()
DIVISIONS = ("110105001000", "310115005000", "440305001000", "330106002000")
STEP_ROUNDS = (("ACCEPTED", "UNIT"), ("RESPONDED", "UNIT"), ("RESOLVED", "UNIT"), ("FEEDBACK", "PLATFORM"))
STRANGER = "110105-housing"  # Chaoyang housing: routed no PAY case of these counties


def now_ms() -> int:
    return int(time.time() * 1000)


class CaseTraffic(Traffic):
    """Cases and rounds of steps for one platform (see the module docstring)."""

    def __init__(self, conn, platform: str, n_cases: int, seed: int) -> None:
        super().__init__(conn, [platform], seed)
        self.platform = platform
        submitted = now_ms() - 60_000
        self.cases = [{"case_id": str(uuid.uuid4()), "source_kind": "PLATFORM",
                       "source_id": platform, "platform_id": platform, "division_code": DIVISIONS[i % 4],
                       "category": "PAY", "urgency": "GENERAL", "worker_ref": None, "incident_id": None,
                       "order_ref": None, "summary": "pay withheld", "submitted_at": submitted}
                      for i in range(n_cases)]
        self.unit_of = {c["case_id"]: open_case(c, UNITS).state.assigned_unit for c in self.cases}
        assert STRANGER not in self.unit_of.values()
        self.accepted_steps: dict[str, list[dict]] = defaultdict(list)  # case -> steps to apply, in order
        self.rounds_sent = 0

    def input_topics(self) -> list[str]:
        units = sorted({*self.unit_of.values(), STRANGER})
        return [f"platform.{self.platform}.cases", f"platform.{self.platform}.case-events",
                *(f"gov.units.{u}.case-events" for u in units)]

    def _send(self, topic: str, record: dict, contract: str, kind: str, reason: str | None = None) -> None:
        exp = Expectation(next(self._seq), topic, self.platform, contract, kind, reason=reason,
                          event_id=record.get("event_id", record["case_id"]), label=record.get("action", "case"))
        self.send(exp, record["case_id"].encode(), encode(CATALOG.contract(contract).latest, record))

    def send_round(self) -> None:
        """The next round (the cases first), flushed."""
        r = self.rounds_sent
        if r == 0:
            for case in self.cases:
                self._send(f"platform.{self.platform}.cases", case, "concern_case", "valid")
        else:
            action, kind = STEP_ROUNDS[r - 1]
            for i, case in enumerate(self.cases):
                cid = case["case_id"]
                actor = self.unit_of[cid] if kind == "UNIT" else self.platform
                topic = f"gov.units.{actor}.case-events" if kind == "UNIT" else f"platform.{self.platform}.case-events"
                step = {"event_id": str(uuid.uuid4()), "case_id": cid, "action": action, "actor_kind": kind,
                        "actor_id": actor, "target_unit": None, "reason_code": None, "note": None, "at": now_ms(),
                        "satisfaction": 1 + i % 5 if action == "FEEDBACK" else None}
                if i % 4 == 0 and r > 1:  # the previous round's step again: a no-op
                    previous = self.accepted_steps[cid][-1]
                    unit = previous["actor_id"] if previous["actor_kind"] == "UNIT" else None
                    self._send(f"gov.units.{unit}.case-events" if unit else topic, previous, "case_event", "replay")
                self._send(topic, step, "case_event", "valid")
                self.accepted_steps[cid].append(step)
                if i % 4 == 1 and action == "RESPONDED":
                    stranger = dict(step, event_id=str(uuid.uuid4()), actor_kind="UNIT", actor_id=STRANGER,
                                    satisfaction=None, action="RESPONDED")
                    self._send(f"gov.units.{STRANGER}.case-events", stranger, "case_event", "rejected",
                               "actor_not_permitted")
        self.rounds_sent += 1
        self.flush()

    def expected_states(self) -> dict[str, dict]:
        """Each case's state after the rounds sent so far, by the pure lifecycle."""
        out = {}
        for case in self.cases:
            state = open_case(case, UNITS).state
            for step in self.accepted_steps[case["case_id"]]:
                result = apply(state, step, UNITS)
                assert isinstance(result, Transition), (step["action"], result)
                state = result.state
            out[case["case_id"]] = state.as_record()
        return out

    def wait_round(self, conn, timeout: float) -> None:
        """Until every case is at the version of the rounds sent (a round applied)."""
        from tests.support.kafka_io import wait_for

        want = self.rounds_sent
        ids = set(self.unit_of)

        def done() -> bool:
            top: dict[str, int] = {}
            for r in read_topics(conn, [STATE_TOPIC], since_ms=self.started_ms - 60_000,
                                 since_topics=[STATE_TOPIC])[STATE_TOPIC]:
                state = _decode(r.value)
                if state and state["case_id"] in ids:
                    top[state["case_id"]] = max(top.get(state["case_id"], 0), state["version"])
            return len(top) == len(ids) and min(top.values()) >= want
        wait_for(done, timeout, f"every case at version {want}")


@dataclass
class CaseLedger:
    report: LedgerReport
    cases: int = 0
    states: int = 0  # records of these cases on hub.cases.state
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.report.ok and self.report.duplicates == 0 and not self.problems

    def __str__(self) -> str:
        head = f"case ledger: {self.cases} cases, {self.states} state records"
        return "\n".join([head, self.report.table(), *self.problems[:20]])


def check_cases(conn, traffic: CaseTraffic, scenario: str) -> CaseLedger:
    """Account for every input offset of ``traffic`` and compare every case with its pure replay."""
    report = LedgerReport(scenario, sent=traffic.sent, acked=sum(1 for e in traffic.expectations.values() if e.acked))
    ledger = CaseLedger(report, cases=len(traffic.cases))
    rejection_topics = sorted({f"gov.units.{u}.case-rejections" for u in (*traffic.unit_of.values(), STRANGER)}
                              | {f"platform.{traffic.platform}.case-rejections"})
    inputs, outputs = traffic.input_topics(), [VALIDATED_CASES, VALIDATED_CASE_EVENTS, STATE_TOPIC, *rejection_topics]
    ids = set(traffic.unit_of)
    # unit topics are shared with other tests: inputs are ours by header and case id
    records = read_topics(conn, inputs + outputs, since_ms=traffic.started_ms - 60_000, since_topics=inputs + outputs)

    seen_seq: Counter = Counter()
    for topic in inputs:
        for r in records[topic]:
            seq = dict(r.headers or []).get(SEQ_HEADER)
            if seq is not None and (_decode(r.value) or {}).get("case_id") in ids:
                seen_seq[int(seq)] += 1
    report.inputs = sum(seen_seq.values())
    report.input_repeats = sum(n - 1 for n in seen_seq.values() if n > 1)
    report.acked_missing = sum(1 for e in traffic.expectations.values() if e.acked and e.seq not in seen_seq)

    forwarded = Counter()
    for topic in (VALIDATED_CASES, VALIDATED_CASE_EVENTS):
        for r in records[topic]:
            rec = _decode(r.value) or {}
            if rec.get("case_id") in ids:
                forwarded[rec.get("event_id", rec["case_id"])] += 1
    refusals: dict[str, list[str]] = defaultdict(list)
    for topic in rejection_topics:
        for r in records[topic]:
            rec = _decode(r.value) or {}
            if rec.get("case_id") in ids:
                refusals[rec["event_id"]].append(rec["reason"])
    versions: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records[STATE_TOPIC]:
        rec = _decode(r.value) or {}
        if rec.get("case_id") in ids:
            ledger.states += 1
            versions[rec["case_id"]][rec["version"]].append(rec)

    final = {cid: copies[max(copies)][0] for cid, copies in versions.items()}
    applied = Counter(e for state in final.values() for e in state["applied_event_ids"])
    for exp in sorted(traffic.expectations.values(), key=lambda e: e.seq):
        if exp.seq not in seen_seq:
            continue  # counted as acked_missing if the broker had acknowledged it
        if exp.kind == "rejected":
            reasons = refusals.get(exp.event_id, [])
            if not reasons:
                report.lost += 1
                report.note(f"refused step {exp.event_id} has no rejection")
            elif set(reasons) != {exp.reason}:
                report.misclassified += 1
                report.note(f"step {exp.event_id} refused as {reasons}, expected {exp.reason}")
            else:
                report.rejected += 1
            continue
        if refusals.get(exp.event_id):
            report.misclassified += 1
            report.note(f"{exp.label} {exp.event_id} refused: {refusals[exp.event_id]}")
        if exp.kind == "replay":
            continue  # its original is accounted; the final state must not hold it twice (below)
        if not forwarded.get(exp.event_id) or (exp.label != "case" and not applied.get(exp.event_id)):
            report.lost += 1
            report.note(f"{exp.label} {exp.event_id} forwarded {forwarded.get(exp.event_id, 0)}x, not applied")
            continue
        report.routed += 1
    for event_id, n in applied.items():
        if n > 1:
            report.duplicates += n - 1
            report.note(f"step {event_id} applied {n} times")

    expected = traffic.expected_states()
    for cid, want in expected.items():
        copies = versions.get(cid)
        if not copies:
            ledger.problems.append(f"{cid}: no state on {STATE_TOPIC}")
            continue
        if sorted(copies) != list(range(1, max(copies) + 1)):
            ledger.problems.append(f"{cid}: versions {sorted(copies)} do not step by one from 1")
        for version, same in copies.items():
            if any(s != same[0] for s in same):
                ledger.problems.append(f"{cid} v{version}: {len(same)} copies that differ")
        if CaseState.from_record(final[cid]).as_record() != want:
            ledger.problems.append(f"{cid}: final state v{final[cid]['version']} differs from the pure replay "
                                   f"(v{want['version']})")
    return ledger
