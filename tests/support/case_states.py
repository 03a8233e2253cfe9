"""Final states of the case simulator's cases, run through the pure lifecycle (test data for the
measures)."""

from __future__ import annotations

from gigbridge.simulator.cases import CaseSimulator
from streams.core.cases.lifecycle import CaseState, apply, open_case
from streams.loaders.cases import load_units


def simulated_states(start_ms: int, n: int = 120, seed: int = 16) -> list[CaseState]:
    units = load_units()
    states = []
    for sim_case in CaseSimulator(units, seed=seed, start_ms=start_ms).cases(n):
        state = open_case(sim_case.record, units).state
        for event in sim_case.events:
            state = apply(state, event, units).state
        states.append(state)
    return states
