"""Who may see what (pure): a unit's area, and the *My area* grid built from the read model.

Guarantees: a township unit's area is its township (9-digit prefix), a county unit's area its
county (6 digits) and so every township in it; every count of workers shown is passed through
``streams.core.policy.suppress_small`` with the unit's k (1..k-1 become None, shown as "<k");
coordinates are rounded by ``streams.core.policy.apply_policy`` to the unit's office policy, never
finer than the coarsest office destination the unit's data came through.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from connectors.console.data import HeadcountRow, Point, SiteRow
from streams.core.cases.units import Unit
from streams.core.policy import DestinationPolicy, PolicyBook, SecretSource, apply_policy, suppress_small

#: the facilities the grid counts (SiteEvent.facilities symbols the guidance names)
GRID_FACILITIES = ("REST_AREA", "DRINKING_WATER", "CHARGING", "HEATING", "COOLING")
TREND_PERIODS = 6


def area_prefixes(unit: Unit) -> tuple[str, ...]:
    """The division-code prefixes a unit may see."""
    return (unit.division_code[:9],) if unit.level == "township" else (unit.division_code[:6],)


def in_unit_area(unit: Unit, division_code: str) -> bool:
    return any(division_code.startswith(p) for p in area_prefixes(unit))


@dataclass(frozen=True, slots=True)
class AreaPolicy:
    """The privacy settings the console applies for one unit."""

    k: int
    location_policy: DestinationPolicy  # only its coordinate rounding is used


def area_policy(book: PolicyBook, unit: Unit) -> AreaPolicy:
    """The strictest office policy among the destinations the unit's records reach it through
    (``office-<county>`` and, for a township unit, ``office-<township>``): fewest decimals, largest k."""
    # the console never re-keys; a throwaway secret satisfies the policy's own check
    book = book.with_secrets(SecretSource(os.urandom(32)))
    names = [f"office-{unit.division_code[:6]}"] + ([f"office-{unit.division_code[:9]}"] if unit.level == "township" else [])
    policies = [book.for_destination("office", name) for name in names]
    strictest = min(policies, key=lambda p: -1 if p.coordinate_decimals is None else p.coordinate_decimals)
    return AreaPolicy(max(p.k for p in policies), strictest)


def rounded(location: Point | None, policy: AreaPolicy) -> Point | None:
    if location is None:
        return None
    out = apply_policy({"location": {"lat": location.lat, "lon": location.lon}}, policy.location_policy)["location"]
    return None if out is None else Point(out["lat"], out["lon"])


@dataclass(frozen=True, slots=True)
class SiteCell:
    site: SiteRow
    location: Point | None  # rounded
    active: int | None  # suppressed
    insured: int | None


@dataclass(frozen=True, slots=True)
class DivisionCell:
    division_code: str  # the township (9 digits + zeros) or the county itself
    open_sites: int  # sites are not people: shown as they are (the site list shows them anyway)
    facilities: dict[str, int]  # GRID_FACILITIES -> open sites offering it
    active: int | None
    insured: int | None
    trend: tuple[tuple[int, int | None], ...]  # (period_start, active workers) oldest first
    sites: tuple[SiteCell, ...]


def _division_of(code: str, unit: Unit) -> str:
    """Group by township inside a county (a county-level record stays at the county)."""
    township = code[:9]
    return (township + "000") if township[6:] != "000" else unit.division_code


def _latest_per_site(rows: Iterable[HeadcountRow]) -> dict[tuple[str, str], HeadcountRow]:
    latest: dict[tuple[str, str], HeadcountRow] = {}
    for row in rows:
        key = (row.platform_id, row.site_id)
        if key not in latest or row.period_start >= latest[key].period_start:
            latest[key] = row
    return latest


def area_grid(unit: Unit, sites: Iterable[SiteRow], headcounts: Iterable[HeadcountRow],
              policy: AreaPolicy) -> list[DivisionCell]:
    """One cell per division of the unit's area with data, sorted by code; rows outside the area are dropped."""
    k = policy.k
    sites = [s for s in sites if in_unit_area(unit, s.division_code)]
    headcounts = [h for h in headcounts if in_unit_area(unit, h.division_code)]
    latest = _latest_per_site(headcounts)
    by_division: dict[str, list[SiteRow]] = defaultdict(list)
    for site in sites:
        by_division[_division_of(site.division_code, unit)].append(site)
    counts_by_division: dict[str, list[HeadcountRow]] = defaultdict(list)
    for row in latest.values():
        counts_by_division[_division_of(row.division_code, unit)].append(row)
    trend_by_division: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in headcounts:
        trend_by_division[_division_of(row.division_code, unit)][row.period_start] += row.active_workers
    cells = []
    for code in sorted(set(by_division) | set(counts_by_division)):
        open_sites = [s for s in by_division[code] if s.open]
        rows = counts_by_division[code]
        site_cells = []
        for site in sorted(open_sites, key=lambda s: (s.platform_id, s.site_id)):
            count = latest.get((site.platform_id, site.site_id))
            site_cells.append(SiteCell(site, rounded(site.location, policy),
                                       None if count is None else suppress_small(count.active_workers, k),
                                       None if count is None else suppress_small(count.insured_workers, k)))
        periods = sorted(trend_by_division[code].items())[-TREND_PERIODS:]
        cells.append(DivisionCell(
            division_code=code,
            open_sites=len(open_sites),
            facilities={f: sum(f in s.facilities for s in open_sites) for f in GRID_FACILITIES},
            active=suppress_small(sum(r.active_workers for r in rows), k),
            insured=suppress_small(sum(r.insured_workers for r in rows), k),
            trend=tuple((start, suppress_small(total, k)) for start, total in periods),
            sites=tuple(site_cells)))
    return cells
