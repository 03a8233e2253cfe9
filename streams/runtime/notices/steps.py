"""What the worker's notice flows do with one record, over injected tables (plain mutable
mappings: Faust tables in the worker, dicts in tests). Every step returns the records to write
(:class:`streams.core.plan.Delivery`); the caller writes them, acknowledged, before the input
offset is committed. The decisions are the pure core's (``streams.core.notices``).

Tables (string keys, JSON values):

* ``open_sites``: ``"<platform>|<site_id>"`` -> division code of an open site (from
  ``hub.validated.sites``); the concerned platforms of a notice are read from it;
* ``notice_areas``: ``notice_id`` -> ``{province: [division codes]}`` (the current area);
* ``tracks``: ``"<notice_id>|<platform>"`` -> a :class:`~streams.core.notices.tracking.Tracking`
  as a dict, plus ``overdue_sent`` once its OVERDUE status was published;
* ``live_notices``: ``"<notice_id>|<province>"`` -> what tracking needs of the latest record
  (level, area, expiry) until it is cancelled.

Why ``live_notices``: the sites and the warnings come on different topics, read in no fixed
order (a site still being validated, or its topic joining the subscription at a later
rebalance, is read after a warning published later). A platform whose open site is read
after a live warning covering it is tracked then; so the tracks do not depend on read order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Callable, MutableMapping

from schemas.catalog import Catalog
from schemas.wire import WireFormatError, decode, encode
from streams.core.classify import Rejected, Source, rejection_record
from streams.core.notices.rule_changes import (
    DEFAULT_CHANGE_RULES,
    PUBLIC_REGISTER_TOPIC,
    REGULATOR_TOPIC,
    ChangeRules,
    check_rule_change,
)
from streams.core.notices.tracking import (
    DEFAULT_TRACKING_RULES,
    Tracking,
    TrackingRules,
    answer_state,
    check_measure,
    concerned_platforms,
    record_answer,
    status_record,
    track_notice,
)
from streams.core.plan import Delivery
from streams.core.topics import rejected_topic
from streams.core.validate import DEFAULT_RULES, Rejection, Rules

Table = MutableMapping[str, object]


def status_topic(province: str) -> str:
    return f"gov.notices.{province}.status"


def _track_key(notice_id: str, platform: str) -> str:
    return f"{notice_id}|{platform}"


def _load(value: dict) -> Tracking:
    return Tracking(**{k: v for k, v in value.items() if k != "overdue_sent"})


@dataclasses.dataclass
class NoticeSteps:
    catalog: Catalog
    division_exists: Callable[[str], bool]
    open_sites: Table
    notice_areas: Table
    tracks: Table
    rules: Rules = DEFAULT_RULES
    tracking_rules: TrackingRules = DEFAULT_TRACKING_RULES
    change_rules: ChangeRules = DEFAULT_CHANGE_RULES
    live_notices: Table = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._status = self.catalog.contract("notice_status").latest
        self._rejection = self.catalog.contract("rejection_record").latest
        self._change = self.catalog.contract("algorithm_rule_change").latest

    # -- inputs -------------------------------------------------------------------------------

    def on_site(self, value: bytes, now_ms: int) -> list[Delivery]:
        """A validated SiteEvent: remember where each platform has open sites; a platform not yet
        tracked for a live notice (not cancelled, not expired when the site opened) whose area
        holds the site is tracked now (a NoticeStatus each), whichever of the two was read first."""
        site = decode(self.catalog, value, expect_contract="site_event").record
        platform, code = site["platform_id"], site["division_code"]
        key = f"{platform}|{site['site_id']}"
        if site["action"] == "CLOSED":
            self.open_sites.pop(key, None)
            return []
        self.open_sites[key] = code
        out = []
        for notice_key, live in list(self.live_notices.items()):
            notice_id, province = notice_key.split("|", 1)
            if ((live["expires"] is not None and live["expires"] <= site["occurred_at"])
                    or _track_key(notice_id, platform) in self.tracks
                    or not concerned_platforms(live["division_codes"], [(platform, code)])):
                continue
            record = {**live, "notice_id": notice_id, "province": province, "msg_type": "ALERT"}
            [track] = track_notice({}, record, [(platform, code)], now_ms, self.tracking_rules).values()
            out.append(self._store(track, now_ms))
        return out

    def on_notice(self, value: bytes, now_ms: int) -> list[Delivery]:
        """A WeatherNotice: its area is remembered and each concerned platform tracked (a
        NoticeStatus per new or changed track)."""
        notice = decode(self.catalog, value, expect_contract="weather_notice").record
        area = dict(self.notice_areas.get(notice["notice_id"]) or {})
        area[notice["province"]] = list(notice["division_codes"])
        self.notice_areas[notice["notice_id"]] = area
        live_key = f"{notice['notice_id']}|{notice['province']}"
        if notice["msg_type"] == "CANCEL":
            self.live_notices.pop(live_key, None)
        else:
            self.live_notices[live_key] = {"level": notice["level"], "division_codes": list(notice["division_codes"]),
                                           "expires": notice["expires"]}
        sites = [(key.split("|", 1)[0], code) for key, code in self.open_sites.items()]
        mine = {k: _load(v) for k, v in self.tracks.items() if k.split("|", 1)[0] == notice["notice_id"]}
        mine = {(t.notice_id, t.platform_id): t for t in mine.values()}
        after = track_notice(mine, notice, sites, now_ms, self.tracking_rules)
        return [self._store(t, now_ms) for key, t in after.items() if mine.get(key) != t]

    def on_measure(self, value: bytes, source: Source, platform: str, now_ms: int) -> list[Delivery]:
        """A ProtectionMeasure: validated; a valid one answers its track (NoticeStatus), an
        invalid one is a RejectionRecord to the platform."""
        try:
            measure = decode(self.catalog, value, expect_contract="protection_measure").record
        except WireFormatError as exc:
            return [self._reject(Rejection(exc.reason, None, "the value is not a ProtectionMeasure in the wire "
                                           "format"), "measures", None, platform, source, now_ms)]
        areas = {notice_id: [c for codes in area.values() for c in codes]
                 for notice_id, area in self.notice_areas.items()}
        rejection = check_measure(measure, now_ms=now_ms, division_exists=self.division_exists,
                                  notice_areas=areas, topic_platform=platform, rules=self.rules)
        if rejection is not None:
            return [self._reject(rejection, "measures", measure.get("event_id"), platform, source, now_ms)]
        key = _track_key(measure["notice_id"], platform)
        if key not in self.tracks:
            return []  # a measure for a notice the platform was not concerned by: valid, nothing to answer
        track = _load(self.tracks[key])
        answered = record_answer({(track.notice_id, platform): track}, measure)[(track.notice_id, platform)]
        return [] if answered == track else [self._store(answered, now_ms)]

    def on_rule_change(self, value: bytes, source: Source, platform: str, now_ms: int) -> list[Delivery]:
        """An AlgorithmRuleChange: accepted ones go to the regulators and the public register,
        refused ones back to the platform with the reason code."""
        try:
            change = decode(self.catalog, value, expect_contract="algorithm_rule_change").record
        except WireFormatError as exc:
            return [self._reject(Rejection(exc.reason, None, "the value is not an AlgorithmRuleChange in the "
                                           "wire format"), "algorithm-changes", None, platform, source, now_ms)]
        rejection = check_rule_change(change, now_ms=now_ms, division_exists=self.division_exists,
                                      topic_platform=platform, rules=self.rules, change_rules=self.change_rules)
        if rejection is not None:
            return [self._reject(rejection, "algorithm-changes", change.get("event_id"), platform, source, now_ms)]
        out = encode(self._change, change)
        key = f"{platform}|{change['change_id']}".encode()
        return [Delivery("validated", REGULATOR_TOPIC, key, out), Delivery("validated", PUBLIC_REGISTER_TOPIC, key, out)]

    # -- timer --------------------------------------------------------------------------------

    def overdue_tick(self, now_ms: int) -> tuple[list[Delivery], Counter, Counter]:
        """One OVERDUE NoticeStatus per track that became overdue since the last tick; the
        number of overdue tracks by (province, level) and of all tracks by state (the gauges)."""
        out, overdue, states = [], Counter(), Counter()
        for key, value in list(self.tracks.items()):
            track = _load(value)
            state = answer_state(track, now_ms, self.tracking_rules)
            states[state] += 1
            if state != "OVERDUE":
                continue
            overdue[(track.province, track.level)] += 1
            if not value.get("overdue_sent"):
                out.append(self._status_delivery(track, now_ms))
                self.tracks[key] = {**value, "overdue_sent": True}
        return out, overdue, states

    # -- records ------------------------------------------------------------------------------

    def _store(self, track: Tracking, now_ms: int) -> Delivery:
        self.tracks[_track_key(track.notice_id, track.platform_id)] = dataclasses.asdict(track)
        return self._status_delivery(track, now_ms)

    def _status_delivery(self, track: Tracking, now_ms: int) -> Delivery:
        record = status_record(track, now_ms, self.tracking_rules)
        return Delivery("validated", status_topic(track.province), _track_key(track.notice_id, track.platform_id)
                        .encode(), encode(self._status, record))

    def _reject(self, rejection: Rejection, event_type: str, event_id, platform: str, source: Source,
                now_ms: int) -> Delivery:
        outcome = Rejected(rejection, event_type, event_id if isinstance(event_id, str) else None, platform, None)
        return Delivery("rejected", rejected_topic(platform), None,
                        encode(self._rejection, rejection_record(outcome, source, now_ms)))
