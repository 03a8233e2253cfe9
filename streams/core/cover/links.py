"""Incidents carry the link to the cover they match (``IncidentCoverLink``, pure).

:func:`streams.core.cover.gaps.check_incident` and ``recheck_pending`` decide each insured
incident event once and hand back a :class:`~streams.core.cover.gaps.CoverLink` on a match;
:func:`link_emits` turns those links into the records sent to the insurer and the platform,
so a link is sent exactly as often as an incident is decided: once (a replayed incident event
emits nothing, it is already decided).

The record names the worker-day (``WorkerDayCover`` key) and the version of it that includes
the match: the latest emitted version, or 1 while the day has not closed (version 1 is emitted
at the close and already counts the matched order).
"""

from __future__ import annotations

from streams.core.cover.emits import Emit
from streams.core.cover.gaps import CoverLink
from streams.core.cover.state import CoverState


def link_emits(state: CoverState, emits: list, now_ms: int) -> list:
    """``emits`` with every :class:`CoverLink` replaced by its ``incident_cover_link`` record."""
    return [link_record(state, e, now_ms) if isinstance(e, CoverLink) else e for e in emits]


def link_record(state: CoverState, link: CoverLink, now_ms: int) -> Emit:
    """The ``IncidentCoverLink`` record of one link, keyed ``<platform_id>:<incident_id>`` (as the
    incident's ``CoverGap`` would be: incident ids are only unique within a platform)."""
    day = link.day
    cover = state.days.get(day)
    record = {
        "incident_id": link.incident_id, "incident_event_id": link.incident_event_id,
        "platform_id": day.platform_id, "province": day.province, "worker_ref": day.worker_ref,
        "service_date": day.service_date, "matched_by": "ORDER" if link.order_ref is not None else "DAY",
        "order_ref": link.order_ref, "cover_version": max(cover.emitted_version if cover else 0, 1),
        "linked_at": now_ms,
    }
    return Emit("incident_cover_link",
                (f"gov.insurance.{day.province}.cover-links", f"platform.{day.platform_id}.cover-links"),
                f"{day.platform_id}:{link.incident_id}", record)
