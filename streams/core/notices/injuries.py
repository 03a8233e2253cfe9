"""Incidents during warnings: linking, and injuries per 10,000 active workers before/after measures.

An incident is *linked* to a notice when its division lies inside the notice's area and it
occurred inside the notice's window ``[onset, expires)`` (an open-ended notice has no end).

For the dashboard, :func:`injury_rates` splits the linked incidents of each notice x platform in
two phases: ``before_measure`` (no measure yet, or none at all) and ``after_measure`` (at or
after the ``effective_from`` of the platform's first measure for that notice). The denominator of
a phase is the active workers (latest headcounts, plain data) of the platforms in that phase in
the notice's area; a platform that answered counts in both phases. Small cells are suppressed
with :func:`streams.core.policy.suppress_small`, the same function and threshold the monitoring
policy applies to every aggregate the offices see: a suppressed count has no rate either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from streams.core.notices.levels import within_any
from streams.core.policy import DEFAULT_K, suppress_small

PHASES = ("before_measure", "after_measure")


@dataclass(frozen=True, slots=True)
class NoticeWindow:
    notice_id: str
    division_codes: tuple[str, ...]  # the whole area, every province
    onset: int
    expires: int | None  # None: open-ended


def window_of(records: Iterable[dict]) -> NoticeWindow:
    """The window of a notice from its current WeatherNotice records (one per province)."""
    records = list(records)
    codes = tuple(sorted({code for r in records for code in r["division_codes"]}))
    first = records[0]
    return NoticeWindow(first["notice_id"], codes, first["onset"], first["expires"])


def _inside(window: NoticeWindow, division_code: str, occurred_at: int) -> bool:
    if occurred_at < window.onset or (window.expires is not None and occurred_at >= window.expires):
        return False
    return within_any(division_code, window.division_codes)


def link_incidents(incidents: Iterable[dict], windows: Iterable[NoticeWindow]) -> dict[str, tuple[str, ...]]:
    """``event_id`` of each IncidentReport inside at least one notice -> those notice_ids (sorted)."""
    windows = tuple(windows)
    links: dict[str, tuple[str, ...]] = {}
    for incident in incidents:
        hits = tuple(sorted(w.notice_id for w in windows
                            if _inside(w, incident["division_code"], incident["occurred_at"])))
        if hits:
            links[incident["event_id"]] = hits
    return links


def injury_rates(windows: Iterable[NoticeWindow], incidents: Iterable[dict],
                 first_measure_from: Mapping[tuple[str, str], int],
                 active_workers: Mapping[tuple[str, str], int], k: int = DEFAULT_K) -> dict[str, dict]:
    """Per phase: ``injuries``, ``active_workers`` (suppressed below k: None) and ``per_10000``.

    ``first_measure_from``: (notice_id, platform_id) -> effective_from of the platform's first
    valid measure; ``active_workers``: (platform_id, division_code) -> latest active workers.
    """
    injuries = dict.fromkeys(PHASES, 0)
    workers = dict.fromkeys(PHASES, 0)
    incidents = tuple(incidents)
    for w in windows:
        platforms = {p for p, code in active_workers if within_any(code, w.division_codes)}
        platforms |= {i["platform_id"] for i in incidents if _inside(w, i["division_code"], i["occurred_at"])}
        for platform in platforms:
            area_workers = sum(n for (p, code), n in active_workers.items()
                               if p == platform and within_any(code, w.division_codes))
            measured_from = first_measure_from.get((w.notice_id, platform))
            workers["before_measure"] += area_workers
            if measured_from is not None:
                workers["after_measure"] += area_workers
            for i in incidents:
                if i["platform_id"] == platform and _inside(w, i["division_code"], i["occurred_at"]):
                    after = measured_from is not None and i["occurred_at"] >= measured_from
                    injuries["after_measure" if after else "before_measure"] += 1
    return {phase: _cell(injuries[phase], workers[phase], k) for phase in PHASES}


def _cell(injuries: int, workers: int, k: int) -> dict:
    shown_injuries, shown_workers = suppress_small(injuries, k), suppress_small(workers, k)
    rate = None
    if shown_injuries is not None and shown_workers:
        rate = round(injuries * 10_000 / workers, 2)
    return {"injuries": shown_injuries, "active_workers": shown_workers, "per_10000": rate}
