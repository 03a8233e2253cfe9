"""`gigbridge cases trace`: which topics it reads and how it orders a case's records (no broker)."""

from gigbridge.commands.case_trace import TracedRecord, case_topics, trace


def test_only_case_topics_are_read():
    topics = ["platform.swiftmeal.cases", "platform.swiftmeal.case-events", "platform.swiftmeal.case-updates",
              "platform.swiftmeal.case-rejections", "gov.units.110105-hrss.case-events",
              "gov.units.110105-hrss.case-updates", "gov.units.110105-hrss.case-rejections", "hub.validated.cases",
              "hub.validated.case-events", "hub.cases.state", "hub.units.gateway",
              # not case topics
              "platform.swiftmeal.sites", "hub.validated.incidents", "gov.office.310101.incidents",
              "platform.swiftmeal.cases.extra", "hub.cases.state-changelog", "gov.units.x.incident-acks-old"]
    assert case_topics(topics) == sorted(topics[:11])


def test_a_case_path_is_its_records_in_broker_time_order():
    def rec(topic, ts, case_id, offset=0):
        return TracedRecord(topic, 0, offset, ts, {"case_id": case_id})
    records = [rec("hub.cases.state", 30, "c1"), rec("platform.p.cases", 10, "c1"), rec("hub.validated.cases", 20, "c1"),
               rec("hub.cases.state", 25, "c2"), rec("platform.p.case-updates", 30, "c1", 4),
               TracedRecord("hub.cases.state", 0, 9, 5, {"unrelated": True})]
    path = trace(records, "c1")
    assert [(r.topic, r.timestamp) for r in path] == [
        ("platform.p.cases", 10), ("hub.validated.cases", 20), ("hub.cases.state", 30), ("platform.p.case-updates", 30)]
    assert trace(records, "missing") == []
