"""Incidents during warnings, for the notice flows: what the pure core
(:mod:`streams.core.notices.injuries`) needs from ``hub.validated.incidents`` and
``hub.validated.headcounts``, kept in logged tables (string keys, JSON values):

* ``notice_windows``: ``notice_id`` -> ``[onset, expires]`` of its latest WeatherNotice record;
* ``active_workers``: ``"<platform>|<site_id>"`` -> ``[division_code, active_workers, occurred_at]``
  of the site's latest HeadcountReport (an older report read later does not replace it);
* ``linked_incidents``: ``event_id`` -> ``[platform_id, division_code, occurred_at]`` of each
  IncidentReport inside at least one known notice's area and window.

Low cost by construction: an incident is not even decoded while no notice is known, and only
four fields of a linked one are kept. An incident read before the notice that covers it (a
warning published after the fact) is not linked: the notice flows read each incident once.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, MutableMapping

from schemas.catalog import Catalog
from schemas.wire import decode
from streams.core.notices.injuries import NoticeWindow, injury_rates, link_incidents
from streams.core.policy import DEFAULT_K

Table = MutableMapping[str, object]


@dataclasses.dataclass
class IncidentSteps:
    catalog: Catalog
    notice_areas: Mapping[str, object]  # NoticeSteps' table: notice_id -> {province: [division codes]}
    tracks: Mapping[str, object]  # NoticeSteps' table: "<notice>|<platform>" -> Tracking as a dict
    notice_windows: Table
    active_workers: Table
    linked_incidents: Table
    k: int = DEFAULT_K

    def on_notice(self, value: bytes) -> str:
        """A WeatherNotice: its window (a Cancel's records carry the shortened ``expires``); its notice_id."""
        notice = decode(self.catalog, value, expect_contract="weather_notice").record
        self.notice_windows[notice["notice_id"]] = [notice["onset"], notice["expires"]]
        return notice["notice_id"]

    def on_headcount(self, value: bytes) -> None:
        """A validated HeadcountReport: the latest active workers of its site."""
        report = decode(self.catalog, value, expect_contract="headcount_report").record
        key = f"{report['platform_id']}|{report['site_id']}"
        known = self.active_workers.get(key)
        if known is None or known[2] <= report["occurred_at"]:
            self.active_workers[key] = [report["division_code"], report["active_workers"], report["occurred_at"]]

    def on_incident(self, value: bytes) -> None:
        """A validated IncidentReport: kept (four fields) when it lies inside a known notice."""
        if not self.notice_windows:
            return  # no warning known: nothing to link, not worth decoding
        incident = decode(self.catalog, value, expect_contract="incident_report").record
        if link_incidents([incident], self.windows()):
            self.linked_incidents[incident["event_id"]] = [
                incident["platform_id"], incident["division_code"], incident["occurred_at"]]

    def windows(self) -> list[NoticeWindow]:
        out = []
        for notice_id, (onset, expires) in self.notice_windows.items():
            area = self.notice_areas.get(notice_id) or {}
            codes = tuple(sorted({code for codes in area.values() for code in codes}))
            out.append(NoticeWindow(notice_id, codes, onset, expires))
        return out

    def rates(self) -> dict[str, dict]:
        """:func:`~streams.core.notices.injuries.injury_rates` over every known notice (small cells suppressed)."""
        incidents = [{"platform_id": p, "division_code": code, "occurred_at": at}
                     for p, code, at in self.linked_incidents.values()]
        first_measure_from = {tuple(key.split("|", 1)): track["measure_from"] for key, track in self.tracks.items()
                              if track.get("measure_from") is not None}
        workers: dict[tuple[str, str], int] = {}
        for key, (code, active, _) in self.active_workers.items():
            platform = key.split("|", 1)[0]
            workers[(platform, code)] = workers.get((platform, code), 0) + active
        return injury_rates(self.windows(), incidents, first_measure_from, workers, self.k)
