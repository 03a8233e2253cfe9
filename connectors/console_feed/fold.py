"""The console's read model as pure folds: one decoded record in, the view state updated.

The console shows an office what the hub already gives offices and units, nothing more:

* sites, headcounts, incidents: ``gov.office.<code>.sites|headcounts|incidents`` -- the records
  after the office privacy policy (re-keyed references, ~1 km grid), so the console shows
  exactly what the office's own topic carries;
* incident acknowledgements: the accepted ``IncidentAck`` steps on ``platform.<id>.incident-acks``,
  folded with the hub's own state machine (:func:`streams.core.cases.acks.apply_ack`);
* cases: the compacted ``hub.cases.state`` (the highest ``version`` per ``case_id`` wins); their
  steps: ``hub.validated.case-events`` (shown only once the case state lists them as applied);
* weather notices: ``gov.notices.<province>`` (the highest ``revision`` per notice and province);
  who answered: ``gov.notices.<province>.status`` (``NoticeStatus``, latest ``computed_at``);
  with which measures: ``platform.<id>.measures``, shown only when the hub's own rules
  (:func:`streams.core.notices.tracking.check_measure`) accept them.

Guarantees: every fold is idempotent (a record read twice changes nothing) and order-tolerant
where the record carries a version (cases, notice revisions, statuses); what depends on another
topic (a case's applied steps, a measure's notice) is joined when read, so the order in which
a start reads the topics does not matter. Memory is bounded by
:class:`Bounds`: the first received incidents leave beyond ``max_incidents``, a site keeps its
newest ``headcount_history`` periods, a case its newest ``steps_per_case`` steps, an answer its
newest ``measures_per_answer`` measures; sites, cases and notices are kept whole (they are what
the console is for). Costs per entry are measured in ``docs/console-data.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from connectors.console.data import CaseStep, HeadcountRow, IncidentRow, Point, SiteRow
from streams.core.cases.acks import AckState, apply_ack
from streams.core.cases.lifecycle import CaseState
from streams.core.notices.tracking import check_measure
from streams.core.validate import Rejection

OFFICE_TOPIC_RE = re.compile(r"gov\.office\.\d{2,12}\.(sites|headcounts|incidents)")
ACKS_TOPIC_RE = re.compile(r"platform\.[a-z][a-z0-9-]{1,31}\.incident-acks")
MEASURES_TOPIC_RE = re.compile(r"platform\.([a-z][a-z0-9-]{1,31})\.measures")
NOTICE_TOPIC_RE = re.compile(r"gov\.notices\.\d{2}")
STATUS_TOPIC_RE = re.compile(r"gov\.notices\.\d{2}\.status")
CASES_STATE_TOPIC = "hub.cases.state"
CASE_EVENTS_TOPIC = "hub.validated.case-events"
#: Every topic the read model follows (a regex for one pattern subscription).
TOPIC_PATTERN = (r"^(gov\.office\.\d{2,12}\.(sites|headcounts|incidents)"
                 r"|platform\.[a-z][a-z0-9-]{1,31}\.(incident-acks|measures)"
                 r"|gov\.notices\.\d{2}(\.status)?|hub\.cases\.state|hub\.validated\.case-events)$")
_CONTRACT_BY_SUFFIX = {"sites": "site_event", "headcounts": "headcount_report", "incidents": "incident_report",
                       "incident-acks": "incident_ack", "measures": "protection_measure", "status": "notice_status"}


def contract_of_topic(topic: str) -> str | None:
    """The contract a followed topic carries, or None for a topic the read model does not follow."""
    if topic == CASES_STATE_TOPIC:
        return "case_state"
    if topic == CASE_EVENTS_TOPIC:
        return "case_event"
    if NOTICE_TOPIC_RE.fullmatch(topic):
        return "weather_notice"
    if any(r.fullmatch(topic) for r in (OFFICE_TOPIC_RE, ACKS_TOPIC_RE, MEASURES_TOPIC_RE, STATUS_TOPIC_RE)):
        return _CONTRACT_BY_SUFFIX[topic.rsplit(".", 1)[1]]
    return None


@dataclass(frozen=True)
class Bounds:
    """Caps on what the view keeps (memory per entry: docs/console-data.md)."""

    max_incidents: int = 50_000
    headcount_history: int = 8  # periods per site, for the trend
    steps_per_case: int = 50
    measures_per_answer: int = 10  # per notice x platform


@dataclass
class ConsoleView:
    """Everything the console shows, keyed as the pages look it up. Only the folds below change it."""

    sites: dict[tuple[str, str], SiteRow] = field(default_factory=dict)  # (platform, site_id)
    headcounts: dict[tuple[str, str], list[HeadcountRow]] = field(default_factory=dict)  # oldest period first
    incidents: dict[tuple[str, str], IncidentRow] = field(default_factory=dict)  # (platform, incident_id)
    acks: dict[tuple[str, str], AckState] = field(default_factory=dict)
    cases: dict[str, CaseState] = field(default_factory=dict)
    steps: dict[str, list[CaseStep]] = field(default_factory=dict)  # case_id -> validated steps
    notices: dict[str, dict[str, dict]] = field(default_factory=dict)  # notice_id -> province -> WeatherNotice
    answers: dict[tuple[str, str], dict] = field(default_factory=dict)  # (notice_id, platform) -> NoticeStatus
    measures: dict[tuple[str, str], list["SeenMeasure"]] = field(default_factory=dict)  # (notice_id, platform)


def _point(location: dict | None) -> Point | None:
    return None if location is None else Point(location["lat"], location["lon"])


def fold_site(view: ConsoleView, site: dict) -> None:
    """The site's last event wins (a CLOSED site stays, ``open=False``)."""
    view.sites[(site["platform_id"], site["site_id"])] = SiteRow(
        site["platform_id"], site["site_id"], site["division_code"], site["site_type"], tuple(site["facilities"]),
        site["action"] != "CLOSED", _point(site["location"]), site["capacity_workers"], site["occurred_at"])


def fold_headcount(view: ConsoleView, report: dict, bounds: Bounds) -> None:
    """Per site, one row per period (a re-sent period replaces it), the newest ``headcount_history``."""
    row = HeadcountRow(report["platform_id"], report["site_id"], report["division_code"], report["period_start"],
                       report["period_end"], report["active_workers"], report["insured_workers"])
    key = (row.platform_id, row.site_id)
    history = [h for h in view.headcounts.get(key, ()) if h.period_start != row.period_start]
    history.append(row)
    history.sort(key=lambda h: h.period_start)
    view.headcounts[key] = history[-bounds.headcount_history:]


def fold_incident(view: ConsoleView, incident: dict, bounds: Bounds) -> None:
    """The incident as the office received it; beyond ``max_incidents`` the first received leaves
    (dicts keep insertion order, so this is O(1); a repeat keeps its place)."""
    key = (incident["platform_id"], incident["incident_id"])
    view.incidents[key] = IncidentRow(
        incident["platform_id"], incident["incident_id"], incident["division_code"], incident["occurred_at"],
        incident["category"], incident["severity"], incident["weather"], incident["insured"],
        incident["worker_ref"], incident["order_ref"], incident["site_id"], _point(incident["location"]),
        incident["description"])
    if len(view.incidents) > bounds.max_incidents:
        first = next(iter(view.incidents))
        del view.incidents[first]
        view.acks.pop(first, None)


def fold_ack(view: ConsoleView, ack: dict) -> Rejection | None:
    """An accepted acknowledgement step, by the hub's state machine (a repeat is a no-op)."""
    key = (ack["platform_id"], ack["incident_id"])
    after = apply_ack(view.acks.get(key), ack)
    if isinstance(after, Rejection):
        return after
    view.acks[key] = after
    return None


def fold_case_state(view: ConsoleView, case_id: str, state: dict | None) -> None:
    """The compacted case state: the highest version wins; a tombstone (None) removes the case."""
    if state is None:
        view.cases.pop(case_id, None)
        view.steps.pop(case_id, None)
        return
    current = view.cases.get(state["case_id"])
    if current is None or state["version"] >= current.version:
        view.cases[state["case_id"]] = CaseState.from_record(state)


def fold_case_event(view: ConsoleView, event: dict, bounds: Bounds) -> None:
    """A validated step (the owner may still refuse it: :func:`applied_steps` filters)."""
    steps = view.steps.setdefault(event["case_id"], [])
    if any(s.event_id == event["event_id"] for s in steps):
        return
    steps.append(CaseStep(event["event_id"], event["action"], event["actor_kind"], event["actor_id"], event["at"],
                          event["target_unit"], event["reason_code"], event["satisfaction"], event["note"]))
    del steps[:-bounds.steps_per_case]


def applied_steps(view: ConsoleView, case_id: str) -> list[CaseStep]:
    """The steps the case's state lists as applied, oldest first."""
    state = view.cases.get(case_id)
    applied = set(state.applied_event_ids) if state else set()
    return sorted((s for s in view.steps.get(case_id, ()) if s.event_id in applied), key=lambda s: s.at)


def fold_notice(view: ConsoleView, notice: dict) -> None:
    """A notice's record for one province: the highest revision wins."""
    by_province = view.notices.setdefault(notice["notice_id"], {})
    current = by_province.get(notice["province"])
    if current is None or notice["revision"] >= current["revision"]:
        by_province[notice["province"]] = notice


def fold_answer(view: ConsoleView, status: dict) -> None:
    """A platform's answer state for a notice: the latest ``computed_at`` wins."""
    key = (status["notice_id"], status["platform_id"])
    current = view.answers.get(key)
    if current is None or status["computed_at"] >= current["computed_at"]:
        view.answers[key] = status


@dataclass(frozen=True, slots=True)
class SeenMeasure:
    record: dict
    platform: str  # of the topic it came on
    seen_at_ms: int  # the record's Kafka timestamp: "now" for the hub's time-window rule


def fold_measure(view: ConsoleView, measure: dict, topic_platform: str, seen_at_ms: int, bounds: Bounds) -> None:
    """A platform's measure, kept as written (a repeat -- same event_id -- is a no-op). It is judged
    when shown (:func:`shown_measures`), not here: on a start the measures topic may be read before
    the notice it answers."""
    kept = view.measures.setdefault((measure["notice_id"], topic_platform), [])
    if all(m.record["event_id"] != measure["event_id"] for m in kept):
        kept.append(SeenMeasure(measure, topic_platform, seen_at_ms))
        del kept[:-bounds.measures_per_answer]


def shown_measures(view: ConsoleView, notice_id: str, platform: str,
                   division_exists: Callable[[str], bool]) -> list[dict]:
    """The platform's measures for the notice that the hub's rules accept (``check_measure``,
    judged at the time each was written, against the notice's current area)."""
    area = [c for record in view.notices.get(notice_id, {}).values() for c in record["division_codes"]]
    return [m.record for m in view.measures.get((notice_id, platform), ())
            if check_measure(m.record, now_ms=m.seen_at_ms, division_exists=division_exists,
                             notice_areas={notice_id: area}, topic_platform=m.platform) is None]


@dataclass
class Folder:
    """Dispatches a decoded record of a followed topic to its fold (``record`` None: a tombstone).
    Returns the hub's refusal of a record the view leaves out (an acknowledgement it would refuse)."""

    view: ConsoleView
    bounds: Bounds = Bounds()

    def apply(self, topic: str, key: bytes | None, record: dict | None, timestamp_ms: int) -> Rejection | None:
        if topic == CASES_STATE_TOPIC:
            fold_case_state(self.view, (key or b"").decode("utf-8", "replace"), record)
        elif record is None:
            pass
        elif topic == CASE_EVENTS_TOPIC:
            fold_case_event(self.view, record, self.bounds)
        elif match := OFFICE_TOPIC_RE.fullmatch(topic):
            if match[1] == "sites":
                fold_site(self.view, record)
            elif match[1] == "headcounts":
                fold_headcount(self.view, record, self.bounds)
            else:
                fold_incident(self.view, record, self.bounds)
        elif ACKS_TOPIC_RE.fullmatch(topic):
            return fold_ack(self.view, record)
        elif match := MEASURES_TOPIC_RE.fullmatch(topic):
            fold_measure(self.view, record, match[1], timestamp_ms, self.bounds)
        elif STATUS_TOPIC_RE.fullmatch(topic):
            fold_answer(self.view, record)
        elif NOTICE_TOPIC_RE.fullmatch(topic):
            fold_notice(self.view, record)
        return None
