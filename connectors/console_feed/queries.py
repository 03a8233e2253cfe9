"""The :class:`connectors.console.data.ConsoleData` queries over a :class:`.fold.ConsoleView`.

Pure reads of the view (filters shared with :class:`MemoryConsoleData`, so both answer alike) that the feed (:mod:`.feed`) keeps current in the same event loop, so no
lock is needed: a query sees the view between two folded batches. ``freshness()`` (beyond the
Protocol) says how current the view is, for the pages' "data as of" line and banner.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from connectors.console.data import (
    CaseStep,
    HeadcountRow,
    IncidentRow,
    MemoryConsoleData,
    PlatformAnswer,
    SiteRow,
    WarningRow,
    in_area,
)
from connectors.console_feed.fold import ConsoleView, applied_steps, shown_measures
from connectors.console_feed.freshness import FreshnessStatus
from streams.core.cases.lifecycle import CaseState
from streams.core.cases.measures import UnitMeasures


def warning_rows(view: ConsoleView, now_ms: int, division_exists: Callable[[str], bool]) -> list[WarningRow]:
    """Every notice in force at ``now_ms``: its provinces' latest records that are not cancelled
    and not expired, merged (the newest revision gives level, headline and times)."""
    rows = []
    for notice_id, by_province in view.notices.items():
        live = [r for r in by_province.values()
                if r["msg_type"] != "CANCEL" and (r["expires"] is None or r["expires"] > now_ms)]
        if not live:
            continue
        newest = max(live, key=lambda r: (r["revision"], r["sent"]))
        codes = tuple(sorted({c for r in live for c in r["division_codes"]}))
        answers = tuple(
            PlatformAnswer(s["platform_id"], s["state"], s["notified_at"], s["answered_at"],
                           tuple(m["measure"] for m in shown_measures(view, notice_id, s["platform_id"], division_exists)))
            for (nid, _), s in sorted(view.answers.items()) if nid == notice_id)
        rows.append(WarningRow(notice_id, newest["warning_type"], newest["level"], newest["headline"], codes,
                               newest["onset"], newest["expires"], answers))
    return rows


@dataclasses.dataclass
class ViewConsoleData:
    """A ConsoleData over a live view; ``freshness`` is the feed's status at the clock's time."""

    view: ConsoleView
    freshness_now: Callable[[], FreshnessStatus]
    division_exists: Callable[[str], bool]

    def freshness(self) -> FreshnessStatus:
        return self.freshness_now()

    async def sites(self, prefixes: Sequence[str]) -> list[SiteRow]:
        return [r for r in self.view.sites.values() if in_area(r.division_code, prefixes)]

    async def headcounts(self, prefixes: Sequence[str]) -> list[HeadcountRow]:
        rows = [r for history in self.view.headcounts.values() for r in history]
        return await MemoryConsoleData(headcount_rows=rows).headcounts(prefixes)

    async def incidents(self, prefixes: Sequence[str]) -> list[IncidentRow]:
        return [self._with_acks(r) for r in self.view.incidents.values() if in_area(r.division_code, prefixes)]

    async def incident(self, platform_id: str, incident_id: str) -> IncidentRow | None:
        row = self.view.incidents.get((platform_id, incident_id))
        return None if row is None else self._with_acks(row)

    def _with_acks(self, row: IncidentRow) -> IncidentRow:
        acks = self.view.acks.get((row.platform_id, row.incident_id))
        return row if acks is None else dataclasses.replace(row, acks=acks)

    async def cases(self, unit_id: str) -> list[CaseState]:
        return await MemoryConsoleData(case_states=list(self.view.cases.values())).cases(unit_id)

    async def case(self, case_id: str) -> CaseState | None:
        return self.view.cases.get(case_id)

    async def case_history(self, case_id: str) -> list[CaseStep]:
        return applied_steps(self.view, case_id)

    async def warnings(self, prefixes: Sequence[str], now_ms: int) -> list[WarningRow]:
        return await MemoryConsoleData(warning_rows=warning_rows(self.view, now_ms, self.division_exists)).warnings(prefixes, now_ms)

    async def unit_figures(self, unit_id: str) -> list[UnitMeasures]:
        return await MemoryConsoleData(case_states=list(self.view.cases.values())).unit_figures(unit_id)
