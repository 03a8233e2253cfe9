"""Case look-ups (streams.core.cases.lookup): who sees which case, the filters, the newest state."""

from __future__ import annotations

from dataclasses import replace

from streams.core.cases.lifecycle import open_case
from streams.core.cases.lookup import OPERATOR, Viewer, latest, select, visible_to
from streams.loaders.cases import load_units

UNITS = load_units()
H = 3_600_000
T0 = 1_780_000_000_000


def state(case_id: str, division: str = "110105001000", **kw):
    case = {"case_id": case_id, "source_kind": "PLATFORM", "source_id": "swiftmeal", "platform_id": "swiftmeal",
            "division_code": division, "category": "PAY", "urgency": "EMERGENCY", "worker_ref": None,
            "incident_id": None, "order_ref": None, "summary": "s", "submitted_at": T0}
    return replace(open_case(case, UNITS).state, **kw)


def test_only_the_parties_see_a_case():
    s = state("a", handling_units=("110105-hrss", "310115-hrss"), co_units=("110105-union",))
    assert visible_to(s, Viewer("PLATFORM", "swiftmeal")) and not visible_to(s, Viewer("PLATFORM", "cityrun"))
    for unit in ("110105-hrss", "310115-hrss", "110105-union"):
        assert visible_to(s, Viewer("UNIT", unit))
    assert not visible_to(s, Viewer("UNIT", "440305-hrss"))
    assert visible_to(s, OPERATOR)
    by_union = replace(s, source_kind="UNION", source_id="440305-union", platform_id=None)
    assert visible_to(by_union, Viewer("UNIT", "440305-union")) and not visible_to(by_union, Viewer("PLATFORM", "swiftmeal"))


def test_filters_by_division_prefix_overdue_and_status():
    states = [state("a"), state("b", division="310115005000"), state("c", status="RESOLVED", accepted_at=T0,
                                                                     responded_at=T0, resolved_at=T0)]
    late = T0 + 3 * H  # past the EMERGENCY accept (30 min) and respond (2 h) deadlines
    assert [r["case_id"] for r in select(states, OPERATOR, late, division="110105")] == ["a", "c"]
    assert [r["case_id"] for r in select(states, OPERATOR, late, overdue=True)] == ["a", "b"]
    assert [r["case_id"] for r in select(states, OPERATOR, late, overdue=False)] == ["c"]
    assert [r["case_id"] for r in select(states, OPERATOR, T0, overdue=True)] == []
    (row,) = select(states, OPERATOR, late, status="OPEN", division="310115")
    assert row["overdue"] == ["accept", "response"] and "applied_event_ids" not in row


def test_latest_keeps_the_newest_version_of_each_case():
    old, new = state("a").as_record(), state("a", version=3, status="ACCEPTED").as_record()
    (only,) = latest([new, old])
    assert (only.version, only.status) == (3, "ACCEPTED")
