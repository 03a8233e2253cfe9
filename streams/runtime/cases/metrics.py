"""Prometheus metrics of the concern-case flows (``gigbridge_case_*``).

Labels are bounded: streams, outcomes, reason codes, counties, unit ids (deploy/units.yaml plus
the ``<county>-gov`` fallbacks) and urgencies; never a case id. The per unit and per county
figures are exported by one worker, summed over every partition's cases
(``streams.runtime.cases.measures_export``), and follow the measures' small-cell suppression (``streams.core.cases.measures``): a suppressed cell is absent, not zero.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from streams.core.cases.measures import COUNTS, UnitMeasures

CASE_INPUTS = Counter("gigbridge_case_inputs_total", "Case records read from the senders' topics, by what became of them",
                      ["stream", "outcome"])
CASE_STEPS = Counter("gigbridge_case_steps_total",
                     "Cases and steps applied by the case owner (opened, applied, replayed, refused)",
                     ["outcome", "reason"])
CASE_BREACHES = Counter("gigbridge_case_deadline_breaches_total",
                        "Case deadlines found passed by the timer (each case and deadline once per worker run)",
                        ["deadline", "urgency"])
CASES_BY_UNIT = Gauge("gigbridge_cases_unit", "Case measures per county of the case and unit (suppressed below k)",
                      ["county", "unit", "measure"])
CASE_SATISFACTION = Gauge("gigbridge_cases_satisfaction_mean",
                          "Mean feedback (1-5) of the lead unit's resolved cases, current round (suppressed below k)",
                          ["county", "unit"])
CASES_OVERDUE = Gauge("gigbridge_cases_overdue", "Open cases past at least one deadline now (suppressed below k)",
                      ["county", "urgency"])


def case_records_handled() -> float:
    """Case inputs finished in this process: refused or dead-lettered by the intake, or handled by the
    owner (every forwarded record becomes one owner step) -- what the demo's case simulator waits on."""
    total = 0.0
    for metric, skip in ((CASE_INPUTS, "forwarded"), (CASE_STEPS, None)):
        for family in metric.collect():
            total += sum(s.value for s in family.samples
                         if s.name.endswith("_total") and (skip is None or s.labels.get("outcome") != skip))
    return total


def publish_measures(rows: list[UnitMeasures], overdue: dict[tuple[str, str], int | None]) -> None:
    """Replace the gauges with these figures (cells no longer present or now suppressed disappear)."""
    CASES_BY_UNIT.clear()
    CASE_SATISFACTION.clear()
    CASES_OVERDUE.clear()
    for row in rows:
        for name in (*COUNTS, "feedbacks"):
            value = getattr(row, name)
            if value is not None:
                CASES_BY_UNIT.labels(row.county, row.unit, name).set(value)
        if row.satisfaction_mean is not None:
            CASE_SATISFACTION.labels(row.county, row.unit).set(row.satisfaction_mean)
    for (county, urgency), n in overdue.items():
        if n is not None:
            CASES_OVERDUE.labels(county, urgency).set(n)
