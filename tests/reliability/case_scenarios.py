"""The concern-case variants of the worker scenarios (``kind="cases"`` in test_worker_crash.py and
test_rebalance.py): rounds of case inputs (tests/support/case_ledger.py) while the worker is
killed with -9 mid-round, or while a second worker joins and leaves; then the case ledger -- no
input lost, none applied twice, every case's state equal to the pure replay of what was accepted.

Sizes: ``GIGBRIDGE_RELIABILITY_CASES`` cases (default 24, ``make test-reliability`` 96) and, for
kill -9, one kill per three ``GIGBRIDGE_RELIABILITY_TRIALS`` (default 1, full 3), each in its own
step round; after the kill the measures the worker exports (through the snapshot topic) must equal
the pure ones. The rebalance variant also checks the measures with two workers: exactly one
worker exports them, and they equal those of one worker holding every case; both workers apply
steps. It found the loss of records Faust drops in a rebalance at the start of a partition
(docs/cases.md, "Faust rebalance: records re-read").
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from streams.core.cases.flow import STATE_TOPIC
from streams.core.cases.lifecycle import CaseState
from streams.core.cases.measures import unit_measures
from tests.reliability.harness import SEED, Worker, env_int, record, unique
from tests.support.case_ledger import STEP_ROUNDS, CaseLedger, CaseTraffic, check_cases
from tests.support.kafka_io import hub_settings, wait_for
from tests.support.ledger import _decode, read_topics

# The owner applies a few steps a second (one acknowledged write per step) on a shared machine.
PHASE_S = 240


def _traffic(kafka, prefix: str, seed: int) -> CaseTraffic:
    from gigbridge.topics_admin import TopicAdmin

    traffic = CaseTraffic(kafka, unique(prefix)[:30], env_int("GIGBRIDGE_RELIABILITY_CASES", 24), SEED + seed)
    admin = TopicAdmin(hub_settings(kafka))
    try:  # what onboarding the platform and the units creates
        admin.ensure(traffic.input_topics())
    finally:
        admin.close()
    return traffic


def _applied(worker: Worker) -> float:
    return worker.metric("gigbridge_case_steps_total", outcome="applied")


def _case_counts(*workers: Worker) -> str:
    """The case metrics of each worker (for a failure message)."""
    lines = []
    for w in workers:
        text = w.metrics_text() if w.alive else ""
        lines.append(" ".join(line for line in text.splitlines() if line.startswith(("gigbridge_case_inputs_total",
                                                                                       "gigbridge_case_steps_total"))))
    return "\n".join(lines)


def _wait_round(kafka, traffic: CaseTraffic, *workers: Worker) -> None:
    try:
        traffic.wait_round(kafka, PHASE_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_case_counts(*workers)}") from None


def _finish(kafka, traffic: CaseTraffic, name: str) -> CaseLedger:
    while traffic.rounds_sent <= len(STEP_ROUNDS):
        traffic.send_round()
        traffic.wait_round(kafka, PHASE_S)
    return check_cases(kafka, traffic, name)


def case_kill_9(kafka, tmp_path: Path, scenario_timer) -> None:
    kills = max(1, env_int("GIGBRIDGE_RELIABILITY_TRIALS", 3) // 3)
    traffic = _traffic(kafka, "crashcase", 30)
    worker = Worker(kafka, tmp_path, unique("rel-kill-cases")).start()
    killed_after = []
    try:
        traffic.send_round()  # the cases
        traffic.wait_round(kafka, PHASE_S)
        for _ in range(kills):
            traffic.send_round()
            wait_for(lambda: _applied(worker) >= 3, PHASE_S, "steps applying")
            killed_after.append(int(_applied(worker)))
            worker.kill()  # mid-round: steps forwarded, applied and stored in every stage
            worker.start()
            traffic.wait_round(kafka, PHASE_S)
        ledger = _finish(kafka, traffic, "cases kill -9")
        want = _one_worker_gauges(kafka, traffic)  # the one worker is the exporter: every partition's counts summed
        try:
            exported = wait_for(lambda: (g := _gauges(worker)) == want and g, 90, "the measures of every case exported")
        except AssertionError as exc:
            got = _gauges(worker)
            raise AssertionError(f"{exc}: {len(got)} cells exported, {len(want)} expected; differing: "
                                 f"{sorted(set(got.items()) ^ set(want.items()))[:6]}") from None
        diagnosis = worker.diagnosis()
    finally:
        traffic.close()
        worker.stop()
    record(f"cases kill -9 x{kills}", ledger.report, scenario_timer(),
           f"{ledger.cases} cases, {ledger.states} states; killed after steps applied: {killed_after}; "
           f"{len(exported)} measure cells exported")
    assert ledger.report.inputs == traffic.sent, str(ledger)
    assert ledger.report.rejected > 0 and ledger.report.lost == 0, f"{ledger}\n{diagnosis}"
    assert ledger.ok, str(ledger)


def _gauges(worker: Worker) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(worker.metrics_text())
            for s in family.samples if s.name in ("gigbridge_cases_unit", "gigbridge_cases_satisfaction_mean")}


def _earlier_cases(kafka, traffic: CaseTraffic) -> dict[str, dict]:
    """The cases an earlier scenario of this broker left on the shared topics, as this scenario's
    worker holds them: a new worker group reads ``hub.validated.cases`` and ``-case-events`` from
    the start, applies them again (not necessarily as their first owner did: the two topics are
    not ordered against each other) and sends each state it reaches to ``hub.cases.state``; the
    last one it sent per case (written since this scenario started) is what its measures count."""
    latest: dict[str, dict] = {}
    records = read_topics(kafka, [STATE_TOPIC], since_ms=traffic.started_ms, since_topics=[STATE_TOPIC])[STATE_TOPIC]
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):  # a case's states: one partition, in order
        state = _decode(r.value)
        if state and state["case_id"] not in traffic.unit_of:
            latest[state["case_id"]] = state
    return latest


def _one_worker_gauges(kafka, traffic: CaseTraffic) -> dict:
    """The measures one worker holding every case exports: this scenario's cases as the pure replay
    has them, with those earlier scenarios left."""
    states = {**_earlier_cases(kafka, traffic), **traffic.expected_states()}
    rows = unit_measures(CaseState.from_record(s) for s in states.values())
    out = {}
    for row in rows:
        for name in ("received", "accepted_on_time", "responded_on_time", "resolved", "reopened", "feedbacks"):
            if getattr(row, name) is not None:
                out[("gigbridge_cases_unit", (("county", row.county), ("measure", name), ("unit", row.unit)))] = \
                    float(getattr(row, name))
        if row.satisfaction_mean is not None:
            out[("gigbridge_cases_satisfaction_mean", (("county", row.county), ("unit", row.unit)))] = \
                row.satisfaction_mean
    return out


def _group_members(kafka, group: str) -> int:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(client_id="reliability-group", **kafka.kafka_python_config())
    try:
        info = admin.describe_groups([group])[group]
        return len(info["members"]) if info["group_state"] == "Stable" else 0
    finally:
        admin.close()


def case_rebalance(kafka, tmp_path: Path, scenario_timer) -> None:
    traffic = _traffic(kafka, "rebalcase", 31)
    app_id = unique("rel-rebal-cases")
    first = Worker(kafka, tmp_path / "first", app_id).start()
    second = Worker(kafka, tmp_path / "second", app_id)  # own web port and data dir
    try:
        traffic.send_round()  # the cases
        traffic.wait_round(kafka, PHASE_S)
        second.start()  # joins: the owner's partitions (and their table) move to it
        wait_for(lambda: _group_members(kafka, app_id) == 2, 120, "both workers in the Faust group")
        traffic.send_round()
        _wait_round(kafka, traffic, first, second)
        split = (int(_applied(first)), int(_applied(second)))
        want = _one_worker_gauges(kafka, traffic)
        exporters = wait_for(lambda: (g := [_gauges(w) for w in (first, second)]) and sorted(map(bool, g)) == [
            False, True] and max(g, key=len) == want and g, 60, "one worker exports the measures of every case")
        traffic.send_round()
        wait_for(lambda: _applied(first) + _applied(second) > sum(split), PHASE_S, "steps applying")
        rc, seconds = second.terminate()  # leaves mid-round: its partitions go back to the first
        traffic.wait_round(kafka, PHASE_S)
        ledger = _finish(kafka, traffic, "cases rebalance")
        diagnosis = first.diagnosis()
    finally:
        traffic.close()
        first.stop()
        second.stop()
    record("cases rebalance: join + leave", ledger.report, scenario_timer(),
           f"{ledger.cases} cases; steps applied by first/second while both ran: {split}; "
           f"measure cells exported: {sorted(len(g) for g in exporters)}; second exit {rc} after {seconds:.1f}s")
    assert all(split), f"both workers applied steps: {split}"
    assert rc == 0
    assert ledger.report.inputs == traffic.sent, str(ledger)
    assert ledger.report.rejected > 0 and ledger.report.lost == 0, f"{ledger}\n{diagnosis}"
    assert ledger.ok, str(ledger)
