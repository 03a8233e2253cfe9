"""The notice registry rebuilt from the WeatherNotice records already published (pure).

The published ``gov.notices.<province>`` topics are the registry's durable state: every intake
(gateway, ``gigbridge alerts import``) folds them with :func:`registry_from_records` before
applying a new CAP message, so an Update or Cancel finds the notice it refers to whichever
process received the Alert. Guarantee: for records produced by :func:`.registry.apply_notice`,
the rebuilt registry applies the next message exactly as the original registry would (same
notice ids, revisions, cancelled state and provinces; tested against the in-memory registry).
"""

from __future__ import annotations

from typing import Iterable

from streams.core.notices.cap import Notice
from streams.core.notices.registry import NoticeState, Registry


def registry_from_records(records: Iterable[dict]) -> Registry:
    """Fold WeatherNotice records (any order across provinces) into a :class:`Registry`."""
    revisions: dict[tuple[str, int], list[dict]] = {}
    for record in records:
        revisions.setdefault((record["notice_id"], record["revision"]), []).append(record)
    notices: dict[str, NoticeState] = {}
    seen: dict[tuple[str, str], str] = {}
    for (notice_id, revision), group in sorted(revisions.items()):
        seen[(group[0]["cap_sender"], group[0]["cap_identifier"])] = notice_id
        before = notices.get(notice_id)
        provinces = {r["province"] for r in group} | set(before.provinces_published if before else ())
        covering = [r for r in group if r["division_codes"]]  # a dropped province's CANCEL has none
        if not covering:
            continue
        first = covering[0]
        notice = Notice(
            identifier=first["cap_identifier"], sender=first["cap_sender"], sent=first["sent"],
            msg_type=first["msg_type"], references=tuple(first["references"]), warning_type=first["warning_type"],
            level=first["level"], headline=first["headline"],
            division_codes=tuple(sorted({code for r in covering for code in r["division_codes"]})),
            onset=first["onset"], expires=first["expires"])
        notices[notice_id] = NoticeState(notice_id, notice, revision, notice.msg_type == "CANCEL",
                                         tuple(sorted(provinces)))
    return Registry(notices, seen)
