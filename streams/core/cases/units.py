"""Handling units and deadline tiers (``deploy/units.yaml``), parsed and checked without I/O.

:func:`parse_units` turns the YAML document (already loaded) into a :class:`UnitBook`;
:meth:`UnitBook.route` picks the unit a new case goes to. Guarantees: every listed unit has a
unique topic-safe id and an existing division code of its level; every case gets a unit --
a category without a default, or a county without that department, falls to the county
government of the case's division, which is synthesised (``<county>-gov``) for an unlisted county.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from gigbridge.divisions import Level, pad, truncate

CATEGORIES = ("PAY", "ALGORITHM_PENALTY", "REST_AND_HOURS", "INJURY_CLAIM", "FACILITY", "PARKING_AND_ACCESS",
              "HOUSING", "SOCIAL_INSURANCE", "SAFETY", "OTHER")
URGENCIES = ("EMERGENCY", "URGENT", "GENERAL", "COMPLEX")
LEVELS = ("county", "township")
KINDS = ("COUNTY_GOVERNMENT", "TOWNSHIP_GOVERNMENT", "HUMAN_RESOURCES_SOCIAL_SECURITY", "MARKET_REGULATION",
         "TRANSPORT", "TRAFFIC_POLICE", "TRADE_UNION", "EMERGENCY_MANAGEMENT", "HOUSING")
DEADLINE_KINDS = ("accept", "respond", "resolve")
UNIT_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,47}")
_DURATION_RE = re.compile(r"([1-9][0-9]*)([mhd])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


class UnitsError(ValueError):
    """The units document breaks a rule; the message names the entry."""


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    level: str  # "county" | "township"
    division_code: str  # 12 digits
    kind: str
    name_zh: str
    name_en: str

    @property
    def county(self) -> str:
        return truncate(self.division_code, Level.COUNTY)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Milliseconds from submission (or reopening) to each deadline of one urgency tier."""

    accept_ms: int
    respond_ms: int
    resolve_ms: int


def county_government_id(division_code: str) -> str:
    return f"{truncate(division_code, Level.COUNTY)}-gov"


@dataclass(frozen=True)
class UnitBook:
    units: Mapping[str, Unit]
    deadlines: Mapping[str, Deadlines]
    defaults: Mapping[str, Mapping[str, str]]  # category -> level -> kind

    def get(self, unit_id: str) -> Unit | None:
        """A listed unit, or the synthetic county government of an unlisted county."""
        unit = self.units.get(unit_id)
        if unit is None and re.fullmatch(r"[0-9]{6}-gov", unit_id):
            county = unit_id[:6]
            unit = Unit(unit_id, "county", pad(county), "COUNTY_GOVERNMENT", f"{county} 人民政府",
                        f"People's Government of county {county}")
        return unit

    def county_government(self, division_code: str) -> Unit:
        """The unit that must take a case no one else owns (兜底)."""
        return self.get(county_government_id(division_code))

    def _find(self, kind: str, prefix: str) -> Unit | None:
        for unit in self.units.values():
            if unit.kind == kind and unit.division_code.startswith(prefix):
                return unit
        return None

    def route(self, category: str, division_code: str) -> Unit:
        """The unit a new case of ``category`` in ``division_code`` goes to (never None)."""
        by_level = self.defaults.get(category, {})
        township = division_code[:9]
        if township[6:] != "000" and "township" in by_level:
            unit = self._find(by_level["township"], township)
            if unit is not None and unit.level == "township":
                return unit
        if "county" in by_level:
            unit = self._find(by_level["county"], truncate(division_code, Level.COUNTY))
            if unit is not None and unit.level == "county":
                return unit
        return self.county_government(division_code)


def parse_duration(text: object) -> int:
    """``"30m"``, ``"2h"``, ``"7d"`` -> milliseconds."""
    m = _DURATION_RE.fullmatch(str(text))
    if m is None:
        raise UnitsError(f"duration must look like 30m, 2h or 7d, got {text!r}")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def _parse_unit(pos: int, raw: object, division_exists: Callable[[str], bool]) -> Unit:
    where = f"units[{pos}]"
    keys = {"id", "level", "division_code", "kind", "name_zh", "name_en"}
    if not isinstance(raw, dict) or set(raw) != keys:
        raise UnitsError(f"{where}: needs exactly the keys {sorted(keys)}")
    unit = Unit(**{k: str(raw[k]) for k in keys})
    if not UNIT_ID_RE.fullmatch(unit.id):
        raise UnitsError(f"{where}: id must match {UNIT_ID_RE.pattern}")
    if unit.level not in LEVELS or unit.kind not in KINDS:
        raise UnitsError(f"{where} ({unit.id}): level must be one of {LEVELS}, kind one of {KINDS}")
    if not division_exists(unit.division_code):
        raise UnitsError(f"{where} ({unit.id}): division_code {unit.division_code} is not an NBS 2023 division")
    significant = 6 if unit.level == "county" else 9
    if unit.division_code[significant:].strip("0"):
        raise UnitsError(f"{where} ({unit.id}): a {unit.level} unit needs a {unit.level}-level division code")
    if unit.level == "township" and unit.division_code[6:9] == "000":
        raise UnitsError(f"{where} ({unit.id}): a township unit needs a township-level division code")
    if (unit.kind == "COUNTY_GOVERNMENT") != (unit.id == county_government_id(unit.division_code)):
        raise UnitsError(f"{where} ({unit.id}): the county government, and only it, has the id <county>-gov")
    return unit


def parse_units(doc: object, division_exists: Callable[[str], bool]) -> UnitBook:
    """Check and freeze the units document; raises :class:`UnitsError` on the first broken rule."""
    if not isinstance(doc, dict) or doc.get("format") != 1 or set(doc) != {"format", "deadlines", "defaults", "units"}:
        raise UnitsError("the units file needs format: 1, deadlines, defaults and units")
    deadlines = {}
    if not isinstance(doc["deadlines"], dict) or set(doc["deadlines"]) != set(URGENCIES):
        raise UnitsError(f"deadlines must name exactly the urgencies {URGENCIES}")
    for urgency, tier in doc["deadlines"].items():
        if not isinstance(tier, dict) or set(tier) != set(DEADLINE_KINDS):
            raise UnitsError(f"deadlines.{urgency} needs exactly {DEADLINE_KINDS}")
        d = Deadlines(*(parse_duration(tier[k]) for k in DEADLINE_KINDS))
        if not d.accept_ms <= d.respond_ms <= d.resolve_ms:
            raise UnitsError(f"deadlines.{urgency}: accept <= respond <= resolve")
        deadlines[urgency] = d
    defaults: dict[str, dict[str, str]] = {}
    for category, by_level in (doc["defaults"] or {}).items():
        if category not in CATEGORIES or not isinstance(by_level, dict) or not set(by_level) <= set(LEVELS):
            raise UnitsError(f"defaults.{category}: a category of {CATEGORIES} mapping levels {LEVELS} to kinds")
        if any(kind not in KINDS for kind in by_level.values()):
            raise UnitsError(f"defaults.{category}: kinds must be among {KINDS}")
        defaults[category] = dict(by_level)
    units: dict[str, Unit] = {}
    for pos, raw in enumerate(doc["units"] or []):
        unit = _parse_unit(pos, raw, division_exists)
        if unit.id in units:
            raise UnitsError(f"units[{pos}]: id {unit.id} is used twice")
        units[unit.id] = unit
    return UnitBook(units, deadlines, defaults)
