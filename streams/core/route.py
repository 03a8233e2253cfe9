"""Where a validated event goes: pure routing by division code.

* every event -> the local office topic ``gov.office.<code>.<type>`` (kind ``office``), where ``<code>`` is the
  event's division code cut at the configured office level (county = 6 digits by default,
  township = 9 digits allowed, with per-region overrides; longest matching prefix wins). An
  event whose own division is coarser than that level goes to its own level's office. Because
  division codes are hierarchical, a PREFIXED ACL on ``gov.office.3101`` lets a city office
  read all its counties' topics.
* insured incidents additionally -> ``gov.insurance.<province>.incidents`` (kind ``insurer``).
* orders -> nowhere here: the cover stage reads them from ``hub.validated.orders``.

Keys are kept by the caller (the platform's site key), so one site's events stay in order in
every destination topic.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

from gigbridge.divisions import Level, truncate
from streams.core.validate import OFFICE_EVENT_TYPES

# The one vocabulary of destination kinds, used by routes, the HTTP sinks (``streams.runtime.delivery``),
# the privacy policies (``streams.core.policy``, ``deploy/privacy.yaml``) and the ``destination``
# label of ``gigbridge_routed_total``: government offices (``gov.office.*`` topics), insurers
# (``gov.insurance.*`` topics and their claim endpoints), webhooks (offices' HTTP endpoints)
# and monitoring (dashboards, metrics sinks).
DestinationKind = Literal["office", "insurer", "monitoring", "webhook"]
DESTINATION_KINDS: tuple[str, ...] = get_args(DestinationKind)
LEVELS_BY_NAME = {"county": Level.COUNTY, "township": Level.TOWNSHIP}


@dataclass(frozen=True, slots=True)
class Route:
    kind: DestinationKind  # office or insurer: the kinds a topic route leads to
    destination: str  # policy/secret name: "office-310101", "insurer-44"
    topic: str


@dataclass(frozen=True)
class RoutingConfig:
    office_level: Level = Level.COUNTY
    # (division prefix, level) pairs; the longest prefix that matches a code wins.
    overrides: tuple[tuple[str, Level], ...] = field(default=())

    @classmethod
    def from_names(cls, office_level: str = "county", overrides: dict[str, str] | None = None) -> "RoutingConfig":
        """``from_names("county", {"3101": "township"})``: Shanghai's central city by township."""
        pairs = sorted(((p, LEVELS_BY_NAME[lvl]) for p, lvl in (overrides or {}).items()),
                       key=lambda pair: -len(pair[0]))
        return cls(LEVELS_BY_NAME[office_level], tuple(pairs))

    def level_for(self, division_code: str) -> Level:
        for prefix, level in self.overrides:
            if division_code.startswith(prefix):
                return level
        return self.office_level


OFFICE_TOPIC_PREFIX = "gov.office."


def new_topic_partitions(topic: str, default: int, office: int) -> int:
    """Partitions of an output topic the hub creates: office topics get their own (small) count,
    every other output the default (``GIGBRIDGE_OFFICE_TOPIC_PARTITIONS`` and
    ``GIGBRIDGE_TOPIC_PARTITIONS``)."""
    return office if topic.startswith(OFFICE_TOPIC_PREFIX) else default


def office_topic(code: str, event_type: str) -> str:
    return f"{OFFICE_TOPIC_PREFIX}{code}.{event_type}"


def insurance_topic(province: str, suffix: str = "incidents") -> str:
    return f"gov.insurance.{province}.{suffix}"


def routes_for(event_type: str, record: dict, config: RoutingConfig,
               level_of: Callable[[str], Level | None]) -> list[Route]:
    """Destinations of one validated event (its division code is known to exist); none for an
    order (only the cover stage reads orders, from ``hub.validated.orders``)."""
    if event_type not in OFFICE_EVENT_TYPES:
        return []
    return list(_routes(event_type, record["division_code"], bool(record.get("insured")), config, level_of))


# Routes depend on the event type, the division code and the insured flag only; division codes
# repeat (a site sends all its events from one), so they are worked out once per combination.
@functools.lru_cache(maxsize=65_536)
def _routes(event_type: str, code: str, insured: bool, config: RoutingConfig,
            level_of: Callable[[str], Level | None]) -> tuple[Route, ...]:
    own_level = level_of(code) or Level.VILLAGE
    office_code = truncate(code, min(config.level_for(code), own_level))
    routes = [Route("office", f"office-{office_code}", office_topic(office_code, event_type))]
    if event_type == "incidents" and insured:
        province = code[:2]
        routes.append(Route("insurer", f"insurer-{province}", insurance_topic(province)))
    return tuple(routes)
