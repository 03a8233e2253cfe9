"""The order simulator: deterministic, realistic shape (10-40 orders a day, lunch and dinner
peaks), and every deliberate fault gets the hub behaviour it announces when run through the
pure cover core; the simulated insurer's updates follow the legal claim lifecycle."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from gigbridge.divisions import default_table
from gigbridge.simulator.insurer import SimulatedInsurer
from gigbridge.simulator.orders import OrderSimulator, SimIncident
from schemas.catalog import default_catalog
from schemas.wire import encode
from streams.core.cover.claims import apply_claim_status, check_claim_status
from streams.core.cover.cst import day_end_ms, to_cst
from streams.core.cover.daycover import apply_order, close_due, day_key
from streams.core.cover.emits import DuplicateOrder, Emit
from streams.core.cover.gaps import CoverLink, check_incident
from streams.core.cover.orders import check_order_cover
from streams.core.cover.state import CoverState
from streams.loaders.cover import load_calendar, load_rates
from streams.core.classify import Accepted, classify_json
from streams.core.context import Context

DAY = "2026-05-30"
RATES = load_rates()
DIVISIONS = default_table()
CATALOG = default_catalog()


@pytest.fixture(scope="module")
def sim_day():
    sim = OrderSimulator(DIVISIONS, RATES, seed=11, workers=24, mispriced_share=0.03, duplicate_share=0.03,
                         late_share=0.03, incident_share=0.03, uncovered_share=0.4)
    return sim.day(DAY)


def test_same_seed_same_traffic(sim_day):
    again = OrderSimulator(DIVISIONS, RATES, seed=11, workers=24, mispriced_share=0.03, duplicate_share=0.03,
                           late_share=0.03, incident_share=0.03, uncovered_share=0.4).day(DAY)
    assert again == sim_day
    other = OrderSimulator(DIVISIONS, RATES, seed=12, workers=24).day(DAY)
    assert [o.record["order_ref"] for o in other.orders] != [o.record["order_ref"] for o in sim_day.orders]


def test_workers_take_10_to_40_orders_with_lunch_and_dinner_peaks(sim_day):
    firsts = [o for o in sim_day.orders if o.kind != "duplicate"]
    per_worker = Counter(o.record["worker_ref"] for o in firsts)
    assert len(per_worker) == 24 and all(10 <= n <= 40 for n in per_worker.values())
    hours = Counter(to_cst(o.record["accepted_at"]).hour for o in firsts)
    lunch, dinner, afternoon = hours[11] + hours[12], hours[18] + hours[19], hours[15] + hours[16]
    assert lunch > 2 * afternoon and dinner > 2 * afternoon


def test_every_order_gets_its_announced_verdict_and_the_core_counts_exactly(sim_day):
    kinds = Counter(o.kind for o in sim_day.orders)
    assert all(kinds[k] > 0 for k in ("valid", "mispriced", "duplicate", "late"))
    state, emits, duplicates = CoverState(), [], 0
    ctx = Context(CATALOG, DIVISIONS.exists)
    for item in sim_day.timeline():
        if isinstance(item, SimIncident):
            assert isinstance(classify_json(copy.deepcopy(item.record), "incidents", ctx, item.publish_at,
                                            topic_platform=item.record["platform_id"]), Accepted)
            state, out = check_incident(state, item.record, item.publish_at)
        else:
            encode(CATALOG.contract("order_cover").latest, item.record)
            rejection = check_order_cover(item.record, now_ms=item.publish_at, division_exists=DIVISIONS.exists,
                                          rates=RATES, topic_platform=item.record["platform_id"])
            assert (rejection and rejection.reason) == item.expected_reason
            if rejection is not None:
                continue
            state, out = apply_order(state, item.record, item.publish_at)
        duplicates += sum(isinstance(e, DuplicateOrder) for e in out)
        emits += out
        state, out = close_due(state, item.publish_at)
        emits += out
    state, out = close_due(state, day_end_ms(DAY) + 30 * 3_600_000)
    emits += out

    assert duplicates == kinds["duplicate"]
    counted = [o.record for o in sim_day.orders if o.kind in ("valid", "late")]
    assert sum(d.orders for d in state.days.values()) == len(counted)
    assert sum(d.premium_fen for d in state.days.values()) == sum(r["premium_fen"] for r in counted)
    amended = {e.key for e in emits if isinstance(e, Emit) and e.contract == "worker_day_cover" and e.record["version"] > 1}
    late_days = {day_key(o.record) for o in sim_day.orders if o.kind == "late"}
    assert len(amended) == len({(k.platform_id, k.worker_ref, k.service_date) for k in late_days})
    links = [e for e in emits if isinstance(e, CoverLink)]
    gaps = [e for e in emits if isinstance(e, Emit) and e.contract == "cover_gap"]
    assert len(links) == sum(i.covered for i in sim_day.incidents)
    assert {g.record["incident_id"] for g in gaps} == {i.record["incident_id"] for i in sim_day.incidents if not i.covered}
    assert gaps and links


def test_simulated_insurer_follows_the_lifecycle(sim_day):
    insurer = SimulatedInsurer(load_calendar(), seed=3, denial_share=0.3)
    decisions = Counter()
    for incident in (i.record for i in sim_day.incidents):
        state = None
        for update in insurer.claim_updates(incident):
            assert check_claim_status(update, now_ms=update["occurred_at"]) is None
            encode(CATALOG.contract("claim_status").latest, update)
            outcome = apply_claim_status(state, update)
            assert outcome.kind == "routed", outcome
            state = outcome.state
        decisions[state.decision] += 1
        assert state.status == ("PAID" if state.decision == "ACCEPTED" else "DETERMINED")
    assert decisions["ACCEPTED"] and decisions["DENIED"]

