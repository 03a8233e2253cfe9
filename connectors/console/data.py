"""The console's read model: what the office web console shows, behind one small Protocol.

The web layer (``connectors.console.app``) reads only through :class:`ConsoleData`, so it stays
pure and testable; :class:`MemoryConsoleData` holds rows given to it (tests, demos); the
Kafka-backed implementation (branch ``consoledata``) fills the same rows from the office and unit
topics. The rows are what an office may already receive: worker and order references are the
office's pseudonyms (re-keyed by the hub's privacy policy), never a platform's identifier.

Contract of every implementation (additive changes only; the console and the Kafka read model are
written against it in parallel):

* area queries take ``prefixes``: division-code prefixes (6 digits for a county, 9 for a
  township); a row is returned when its ``division_code`` starts with one of them. The console
  computes the prefixes from the signed-in unit; the read model does not authorise.
* ``sites`` gives the latest state of each site (a CLOSED site has ``open=False``).
* ``headcounts`` gives, per site and period, the latest report (a re-sent period replaces the
  earlier one), oldest period first; the console builds the trend and suppresses small cells.
* ``cases(unit_id)`` gives every case the unit handles or handled or submitted (the console still
  checks ``streams.core.cases.lookup.visible_to``); ``case(case_id)`` any case or None.
* ``case_history(case_id)`` gives the applied steps of one case, oldest first.
* ``warnings(prefixes, now_ms)`` gives the notices in force at ``now_ms`` (onset passed or not,
  not expired, not cancelled) touching the prefixes, with each concerned platform's answer.
* ``unit_figures(unit_id)`` gives the unit's rows of ``streams.core.cases.measures.unit_measures``
  (one per county of its cases, already suppressed below k; empty when it has no case yet).
All methods are ``async`` so an implementation may wait for its store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from streams.core.cases.acks import AckState
from streams.core.cases.lifecycle import CaseState
from gigbridge.divisions import pad
from streams.core.cases.measures import UnitMeasures, unit_measures
from streams.core.notices.levels import within


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SiteRow:
    platform_id: str
    site_id: str
    division_code: str  # 12 digits
    site_type: str  # SiteEvent.site_type
    facilities: tuple[str, ...]  # SiteEvent.facilities symbols (REST_AREA, DRINKING_WATER, ...)
    open: bool  # False once the site's last event was CLOSED
    location: Point | None = None  # as received; the console rounds it to the unit's policy
    capacity_workers: int | None = None
    updated_at: int = 0  # ms, occurred_at of the site's last event


@dataclass(frozen=True, slots=True)
class HeadcountRow:
    platform_id: str
    site_id: str
    division_code: str
    period_start: int  # ms
    period_end: int  # ms
    active_workers: int
    insured_workers: int


@dataclass(frozen=True, slots=True)
class IncidentRow:
    platform_id: str
    incident_id: str
    division_code: str
    occurred_at: int  # ms
    category: str  # IncidentReport.category
    severity: str
    weather: str
    insured: bool
    worker_ref: str | None  # the office's pseudonym (64 hex), never the platform's ref
    order_ref: str | None = None  # likewise
    site_id: str | None = None
    location: Point | None = None
    description: str | None = None  # already scanned for identifiers by the hub
    acks: AckState | None = None  # the acknowledgements so far (streams.core.cases.acks)

    @property
    def key(self) -> str:
        """The incident's address in the console (``/console/incidents/<platform>/<incident>``)."""
        return f"{self.platform_id}/{self.incident_id}"


@dataclass(frozen=True, slots=True)
class CaseStep:
    """One applied CaseEvent of a case (no free text but the step's ``note``)."""

    event_id: str
    action: str
    actor_kind: str
    actor_id: str
    at: int  # ms
    target_unit: str | None = None
    reason_code: str | None = None
    satisfaction: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformAnswer:
    """One concerned platform of a notice (``NoticeStatus``) and the measures it announced."""

    platform_id: str
    state: str  # AWAITING | ANSWERED | OVERDUE | CANCELLED
    notified_at: int
    answered_at: int | None = None
    measures: tuple[str, ...] = ()  # ProtectionMeasure.measure symbols, in arrival order


@dataclass(frozen=True, slots=True)
class WarningRow:
    notice_id: str
    warning_type: str  # WeatherNotice.warning_type
    level: str  # BLUE | YELLOW | ORANGE | RED
    headline: str
    division_codes: tuple[str, ...]
    onset: int
    expires: int | None
    answers: tuple[PlatformAnswer, ...] = ()


class ConsoleData(Protocol):
    """What the console reads; see the module docstring for the guarantees."""

    async def sites(self, prefixes: Sequence[str]) -> list[SiteRow]: ...

    async def headcounts(self, prefixes: Sequence[str]) -> list[HeadcountRow]: ...

    async def incidents(self, prefixes: Sequence[str]) -> list[IncidentRow]: ...

    async def incident(self, platform_id: str, incident_id: str) -> IncidentRow | None: ...

    async def cases(self, unit_id: str) -> list[CaseState]: ...

    async def case(self, case_id: str) -> CaseState | None: ...

    async def case_history(self, case_id: str) -> list[CaseStep]: ...

    async def warnings(self, prefixes: Sequence[str], now_ms: int) -> list[WarningRow]: ...

    async def unit_figures(self, unit_id: str) -> list[UnitMeasures]: ...


def in_area(division_code: str, prefixes: Iterable[str]) -> bool:
    return any(division_code.startswith(p) for p in prefixes)


@dataclass
class MemoryConsoleData:
    """A :class:`ConsoleData` over plain lists (tests and demos); the lists may be changed between calls."""

    site_rows: list[SiteRow] = field(default_factory=list)
    headcount_rows: list[HeadcountRow] = field(default_factory=list)
    incident_rows: list[IncidentRow] = field(default_factory=list)
    case_states: list[CaseState] = field(default_factory=list)
    case_steps: dict[str, list[CaseStep]] = field(default_factory=dict)
    warning_rows: list[WarningRow] = field(default_factory=list)

    async def sites(self, prefixes: Sequence[str]) -> list[SiteRow]:
        return [r for r in self.site_rows if in_area(r.division_code, prefixes)]

    async def headcounts(self, prefixes: Sequence[str]) -> list[HeadcountRow]:
        rows = [r for r in self.headcount_rows if in_area(r.division_code, prefixes)]
        return sorted(rows, key=lambda r: (r.period_start, r.platform_id, r.site_id))

    async def incidents(self, prefixes: Sequence[str]) -> list[IncidentRow]:
        return [r for r in self.incident_rows if in_area(r.division_code, prefixes)]

    async def incident(self, platform_id: str, incident_id: str) -> IncidentRow | None:
        return next((r for r in self.incident_rows if (r.platform_id, r.incident_id) == (platform_id, incident_id)),
                    None)

    async def cases(self, unit_id: str) -> list[CaseState]:
        return [s for s in self.case_states
                if unit_id in s.handling_units or unit_id in s.co_units or unit_id == s.source_id]

    async def case(self, case_id: str) -> CaseState | None:
        return next((s for s in self.case_states if s.case_id == case_id), None)

    async def case_history(self, case_id: str) -> list[CaseStep]:
        return sorted(self.case_steps.get(case_id, []), key=lambda s: s.at)

    async def warnings(self, prefixes: Sequence[str], now_ms: int) -> list[WarningRow]:
        def touches(w: WarningRow) -> bool:  # the notice lies in the area, or the area in the notice
            return any(in_area(code, prefixes) or any(within(pad(p), code) for p in prefixes)
                       for code in w.division_codes)
        return [w for w in self.warning_rows if (w.expires is None or w.expires > now_ms) and touches(w)]

    async def unit_figures(self, unit_id: str) -> list[UnitMeasures]:
        return [m for m in unit_measures(await self.cases(unit_id)) if m.unit == unit_id]
